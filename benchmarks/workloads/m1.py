"""M1: the notebook's memory experiment, `A = A * rand(1000)` n times from a leaf that
requires grad: the bytes kept for the backward pass.

Each contender returns those bytes (chainrule's `cr.memory.saved_bytes`, PyTorch's saved
tensors counted through `saved_tensors_hooks`), so the harness's result check compares them:
both must keep exactly one float64 vector per step (n × 8,000 bytes), and nothing without
recording. The times are those of building the chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import Call, Chainrule, Contender, Variant, Workload, register

N, SIZE = 100, 1000


def setup() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random(SIZE) for _ in range(N + 1)]


def chainrule_saved(lib: Chainrule, vectors: list[np.ndarray]) -> Call:
    cr = lib.cr

    def call() -> int:
        A = cr.tensor(vectors[0], requires_grad=True)
        for v in vectors[1:]:
            A = A * cr.tensor(v)
        saved = cr.memory.saved_bytes(A)
        with cr.no_grad():
            B = cr.tensor(vectors[0], requires_grad=True)
            for v in vectors[1:]:
                B = B * cr.tensor(v)
        if saved != N * SIZE * 8 or cr.memory.saved_bytes(B) != 0:
            raise AssertionError(f"chainrule keeps {saved} bytes, expected {N * SIZE * 8}")
        return saved

    return call


def torch_saved(vectors: list[np.ndarray]) -> Call:
    torch = peers.torch()

    def call() -> int:
        kept: dict[int, int] = {}

        def pack(t: Any) -> Any:
            kept[t.data_ptr()] = t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            A = torch.tensor(vectors[0], requires_grad=True)
            for v in vectors[1:]:
                A = A * torch.tensor(v)
        return sum(kept.values())

    return call


register(
    Workload(
        id="M1",
        title=f"bytes kept for backward by A = A * rand({SIZE}), {N} times (result: bytes)",
        setup=setup,
        variants={
            "saved bytes": Variant(
                chainrule=chainrule_saved,
                peers={"torch eager": Contender(torch_saved, ("torch",))},
                rtol=0.0,
                atol=0.0,
            ),
        },
        rounds=9,
        quick_rounds=3,
    )
)
