"""Under ``mpiexec -n 2``: broadcast, bucketed all_reduce (counting the messages), shard, and
psum/pmean/pmax/all_gather/axis_index over dist.WORLD, plain and under grad, jit and vmap,
each compared with the same computation emulated in one process by a named vmap of size 2.

Usage: mpiexec -n 2 python tests/mpi/mpi_collectives.py OUT_DIR
"""

from __future__ import annotations


def main() -> None:
    import sys

    import numpy as np

    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.numpy as cnp
    from chainrule.distributed.buckets import plan_buckets
    from mpi_common import Checks, rel_err

    checks = Checks()
    dist.init(timeout=20)
    assert "mpi4py" in sys.modules
    r, n = dist.rank(), dist.size()
    comm = dist.communicator()
    checks.check("size", n == 2 and r in (0, 1), (r, n))

    # --- broadcast: rank 0's values everywhere (root=1 too), Tensors stay Tensors -----------
    def params_of(seed):
        rng = np.random.default_rng(seed)
        return {"w": rng.standard_normal((5, 3)), "b": rng.standard_normal(3).astype(np.float32),
                "steps": np.int64(seed), "t": cr.tensor(rng.standard_normal(2))}

    def broadcasts():
        got = dist.broadcast(params_of(100 + r))
        want = params_of(100)
        ok = all(np.array_equal(np.asarray(got[k]), np.asarray(want[k])) for k in want)
        checks.check("broadcast root 0", ok and isinstance(got["t"], cr.Tensor)
                     and got["b"].dtype == np.float32, got)
        got1 = dist.broadcast([np.full(4, float(r))], root=1)
        checks.check("broadcast root 1", np.array_equal(got1[0], np.ones(4)), got1)
        try:  # a layout that differs: every rank raises (no rank left waiting)
            dist.broadcast([np.zeros(3 + r)])
            checks.check("broadcast layout mismatch", False, "no error")
        except ValueError as err:
            checks.check("broadcast layout mismatch", "differs from rank 0" in str(err), err)

    checks.run("broadcast", broadcasts)

    # --- all_reduce: one message per bucket, mixed dtypes, many small leaves -----------------
    def leaves_of(rank):
        rng = np.random.default_rng(7 + rank)
        tree = {
            "f32": [rng.standard_normal((k % 7 + 1, 13)).astype(np.float32) for k in range(40)],
            "f64": [rng.standard_normal(k + 50) for k in range(30)],
            "i32": [rng.integers(-50, 50, (k + 2, 3)).astype(np.int32) for k in range(5)],
            "c128": [rng.standard_normal(9) + 1j * rng.standard_normal(9) for _ in range(2)],
            "scalar": 2.5 * (rank + 1),
        }
        return tree

    def all_reduces():
        mine, trees = leaves_of(r), [leaves_of(0), leaves_of(1)]
        flat = [cr.tree_util.tree_leaves(t) for t in trees]
        for bucket_mb, label in ((0.01, "small buckets"), (None, "default buckets")):
            arrays = [np.asarray(x) for x in flat[0]]
            expected = len(plan_buckets(arrays, int((bucket_mb or 25) * 2**20)))
            before = comm.calls["allreduce"]
            got = dist.all_reduce(mine, "sum", bucket_mb=bucket_mb)
            sent = comm.calls["allreduce"] - before
            want = [a + b for a, b in zip(*flat)]
            err = rel_err(cr.tree_util.tree_leaves(got), want)
            checks.check(f"all_reduce sum ({label})", err < 1e-6, err)
            checks.check(f"all_reduce messages ({label})", sent == expected,
                         f"{sent} messages for {expected} buckets of {len(arrays)} leaves")
        # float32, float64 (the scalar joins it), int32, complex128
        checks.check("default buckets: one per dtype", expected == 4, expected)
        got = dist.all_reduce(mine, "mean")
        want = [(np.asarray(a) + np.asarray(b)) / 2 for a, b in zip(*flat)]
        checks.check("all_reduce mean", rel_err(cr.tree_util.tree_leaves(got), want) < 1e-6)
        checks.check("all_reduce mean dtypes", got["f32"][0].dtype == np.float32
                     and got["i32"][0].dtype == np.float64 and np.ndim(got["scalar"]) == 0)
        mx = dist.all_reduce({"a": np.array([r, -r, 3.0]), "b": np.array([True, r == 1])}, "max")
        checks.check("all_reduce max", np.array_equal(mx["a"], [1, 0, 3])
                     and mx["b"].dtype == bool and mx["b"].all(), mx)
        mn = dist.all_reduce(np.array([r, -r], np.int16), "min")
        checks.check("all_reduce min", np.array_equal(mn, [0, -1]) and mn.dtype == np.int16, mn)
        h = dist.all_reduce(np.array([0.5, r], np.float16), "sum")
        checks.check("all_reduce float16", h.dtype == np.float16 and list(h) == [1.0, 1.0], h)
        t = dist.all_reduce(cr.tensor([1.0 + r]))
        checks.check("all_reduce Tensor", isinstance(t, cr.Tensor) and t.item() == 1.5, t)

    checks.run("all_reduce", all_reduces)

    # --- shard --------------------------------------------------------------------------------
    def shards():
        x = np.arange(14).reshape(7, 2)
        mine = dist.shard({"x": x, "y": np.arange(7)})
        rows = [0, 1, 2, 3] if r == 0 else [4, 5, 6]
        checks.check("shard", np.array_equal(mine["x"], x[rows])
                     and np.array_equal(mine["y"], rows), mine)

    checks.run("shard", shards)

    # --- the WORLD axis against a one-process emulation: vmap with axis_name "i" -----------
    rng = np.random.default_rng(3)
    w = rng.standard_normal(4)
    X = rng.standard_normal((2, 4))  # row k: rank k's data
    x = X[r]

    def loss(axis):
        def f(w, x):
            h = cnp.tanh(w * x)
            return cr.pmean(cnp.sum(h ** 2), axis) + 0.1 * cr.psum(cnp.sum(w * h), axis)
        return f

    def gathered(axis):
        def f(x):
            g = cr.all_gather(x * x, axis)
            return cnp.sum(g[0] * g[1]) + cr.pmax(cnp.max(x), axis) * cr.axis_index(axis)
        return f

    def emulate(f, w, X):  # both "processes" at once: row k of the result is rank k's
        return cr.vmap(f, in_axes=(None, 0), axis_name="i")(w, X)

    cases = {
        "psum value": (lambda: cr.psum(x, dist.WORLD),
                       lambda: cr.vmap(lambda v: cr.psum(v, "i"), axis_name="i")(X)[r]),
        "pmean value": (lambda: cr.pmean(x, dist.WORLD),
                        lambda: cr.vmap(lambda v: cr.pmean(v, "i"), axis_name="i")(X)[r]),
        "all_gather value": (lambda: cr.all_gather(x, dist.WORLD), lambda: X),
        "axis_index": (lambda: cr.axis_index(dist.WORLD), lambda: r),
        "loss": (lambda: loss(dist.WORLD)(w, x), lambda: emulate(loss("i"), w, X)[r]),
        "grad": (lambda: cr.grad(loss(dist.WORLD))(w, x),
                 lambda: emulate(cr.grad(loss("i")), w, X)[r]),
        "jit": (lambda: cr.jit(loss(dist.WORLD))(w, x), lambda: emulate(loss("i"), w, X)[r]),
        "jit(grad)": (lambda: cr.jit(cr.grad(loss(dist.WORLD)))(w, x),
                      lambda: emulate(cr.grad(loss("i")), w, X)[r]),
        "grad(jit)": (lambda: cr.grad(cr.jit(loss(dist.WORLD)))(w, x),
                      lambda: emulate(cr.grad(loss("i")), w, X)[r]),
        "grad of all_gather, pmax, axis_index": (
            lambda: cr.grad(gathered(dist.WORLD))(x),
            lambda: cr.vmap(cr.grad(gathered("i")), axis_name="i")(X)[r]),
        "jit(grad) of all_gather": (
            lambda: cr.jit(cr.grad(gathered(dist.WORLD)))(x),
            lambda: cr.vmap(cr.grad(gathered("i")), axis_name="i")(X)[r]),
        "jvp": (lambda: cr.jvp(lambda v: cr.psum(v ** 3, dist.WORLD), (x,), (w,))[1],
                lambda: cr.vmap(lambda v, t: cr.jvp(lambda u: cr.psum(u ** 3, "i"), (v,), (t,))[1],
                                in_axes=(0, None), axis_name="i")(X, w)[r]),
        # a vmap inside a process: psum over (the vmap's axis, WORLD) reduces along both
        "vmap axis + WORLD": (
            lambda: cr.vmap(lambda v: cr.psum(v, ("j", dist.WORLD)), axis_name="j")(
                np.stack([x, 2 * x])),
            lambda: np.broadcast_to(3 * X.sum(0), (2, 4))),
        "vmap over WORLD psum": (
            lambda: cr.vmap(lambda v: cr.psum(v, dist.WORLD))(np.stack([x, 2 * x])),
            lambda: np.stack([X.sum(0), 2 * X.sum(0)])),
    }
    for name, (got_fn, want_fn) in cases.items():
        def case(got_fn=got_fn, want_fn=want_fn, name=name):
            got, want = got_fn(), want_fn()
            err = rel_err(got, want)
            checks.check(name, err < 1e-12 and np.shape(got) == np.shape(want), (err, got, want))
        checks.run(name, case)

    def tensor_face():  # the PyTorch face: psum recorded on Tensors, its backward a psum
        t = cr.tensor(x, requires_grad=True)
        (cr.psum(t ** 2, dist.WORLD) * cr.tensor(w)).sum().backward()
        want = cr.vmap(cr.grad(lambda v: cnp.sum(cr.psum(v ** 2, "i") * w)), axis_name="i")(X)[r]
        err = rel_err(t.grad.numpy(), want)
        checks.check("Tensor backward through psum", err < 1e-12, (err, t.grad, want))

    checks.run("Tensor backward through psum", tensor_face)
    checks.run("psum float32 stays float32", lambda: checks.check(
        "psum float32 stays float32",
        cr.jit(lambda v: cr.psum(v, dist.WORLD))(x.astype(np.float32)).dtype == np.float32))
    dist.barrier()
    checks.write(r, calls=dict(comm.calls))


if __name__ == "__main__":
    main()
