"""Under ``mpiexec -n 2``: data-parallel training with the global batch split equals training
in one process on the whole batch (float64: to 1e-12; float32, a W7-like MLP: within 1e-6
relative), in four styles: `DataParallel` over a chainrule.nn module (plain Tensors when
chainrule.nn is absent), the same with gradient accumulation (`no_sync`) and an unused
parameter (`synchronize`), the functional style with `dist.all_reduce`, and a jitted step
with `cr.pmean(grads, dist.WORLD)` inside. Each rank also trains the one-process reference
itself, from the parameters rank 0 broadcast.

Usage: mpiexec -n 2 python tests/mpi/mpi_train.py OUT_DIR
"""

from __future__ import annotations


def main() -> None:
    import numpy as np

    import chainrule as cr
    import chainrule.distributed as dist
    import chainrule.numpy as cnp
    from mpi_common import Checks, rel_err

    try:
        from chainrule import nn, optim
    except ImportError:  # chainrule.nn / optim not there yet: plain Tensors
        nn = optim = None

    checks = Checks()
    dist.init(timeout=20)
    r = dist.rank()
    comm = dist.communicator()
    STEPS, LR = 4, 0.1

    def data(n_in, n_out, batch, dtype, seed=5):
        rng = np.random.default_rng(seed)
        return rng.standard_normal((batch, n_in)).astype(dtype), rng.integers(0, n_out, batch)

    def init_params(sizes, dtype, seed):
        rng = np.random.default_rng(seed)
        out = []
        for a, b in zip(sizes, sizes[1:]):
            out += [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype),
                    (0.1 * rng.standard_normal(b)).astype(dtype)]
        return out

    def mlp_loss(params, X, labels):  # W7's loss: tanh MLP, mean softmax cross-entropy
        h = X
        for k in range(0, len(params) - 2, 2):
            h = cnp.tanh(h @ params[k] + params[k + 1])
        z = h @ params[-2] + params[-1]
        s = z - cnp.max(z, axis=1, keepdims=True)
        logp = s - cnp.log(cnp.sum(cnp.exp(s), axis=1, keepdims=True))
        return -cnp.mean(logp[np.arange(len(labels)), labels])

    # --- 1. DataParallel over Tensors (a chainrule.nn module when there is one) -------------
    class Model:
        """A module (chainrule.nn when available) or a list of Tensors, with the same loss."""

        def __init__(self, sizes, dtype, seed, extra=False):
            values = init_params(sizes, dtype, seed)
            if extra:  # a parameter no loss uses
                values.append(np.ones(3, dtype))
            if nn is not None:
                self.net = nn.Module()
                for k, v in enumerate(values):
                    self.net.register_parameter(f"p{k}", nn.Parameter(cr.tensor(v)))
                self.params = list(self.net.parameters())
            else:
                self.net = None
                self.params = [cr.tensor(v, requires_grad=True) for v in values]
            self.used = self.params[:-1] if extra else self.params

        def loss(self, X, labels):
            return mlp_loss(self.used, cr.tensor(X), labels)

        def values(self):
            return [p.detach().numpy().copy() for p in self.params]

    def sgd(params, lr):
        if optim is not None:
            return optim.SGD(params, lr=lr, momentum=0.9)

        class Plain:
            def zero_grad(self):
                for p in params:
                    p.grad = None

            def step(self):
                with cr.no_grad():
                    for p in params:
                        p -= lr * p.grad
        return Plain()

    def train_reference(start, sizes, dtype, X, labels, micro=1, extra=False):
        ref = Model(sizes, dtype, 0, extra)
        for p, v in zip(ref.params, start):
            p.data = cr.tensor(v)
        opt = sgd(ref.params, LR)
        for _ in range(STEPS):
            opt.zero_grad()
            for Xm, lm in zip(np.array_split(X, micro), np.array_split(labels, micro)):
                (ref.loss(Xm, lm) / micro).backward()
            opt.step()
        return ref.values()

    def data_parallel(label, sizes, dtype, tol, batch, bucket_mb=None, micro=1, extra=False):
        X, labels = data(sizes[0], sizes[-1], batch, dtype)
        model = Model(sizes, dtype, seed=10 + r, extra=extra)  # different on each rank...
        dp = dist.DataParallel(model.net if model.net is not None else model.params,
                               bucket_mb=bucket_mb)
        start = model.values()  # ... until DataParallel broadcasts rank 0's
        checks.check(f"{label}: broadcast at start",
                     rel_err(start, init_params(sizes, dtype, 10) + ([np.ones(3)] if extra
                                                                    else [])) == 0)
        opt = sgd(model.params, LR)
        calls = []
        for _ in range(STEPS):
            opt.zero_grad()
            before = comm.calls["allreduce"]
            parts = list(zip(np.array_split(X, micro), np.array_split(labels, micro)))
            for k, (Xm, lm) in enumerate(parts):
                Xs, ls = dist.shard(Xm), dist.shard(lm)
                if k < micro - 1:
                    with dp.no_sync():
                        (model.loss(Xs, ls) / micro).backward()
                else:
                    (model.loss(Xs, ls) / micro).backward()
            if extra:
                dp.synchronize()
            calls.append(comm.calls["allreduce"] - before)
            opt.step()
        want = train_reference(start, sizes, dtype, X, labels, micro, extra)
        err = rel_err(model.values(), want)
        checks.check(f"{label}: 2 processes = 1 process", err <= tol, f"relative error {err:.3g}")
        checks.check(f"{label}: one message per bucket per step",
                     calls == [len(dp.buckets)] * STEPS, f"{calls} for {len(dp.buckets)} buckets")
        return dp, model

    checks.run("float64 DataParallel", lambda: data_parallel(
        "float64 DataParallel", (6, 16, 16, 3), np.float64, 1e-12, 32, bucket_mb=0.001))
    checks.run("float32 W7-like DataParallel", lambda: data_parallel(
        "float32 W7-like DataParallel", (784, 64, 64, 10), np.float32, 1e-6, 64))
    checks.run("no_sync accumulation", lambda: data_parallel(
        "no_sync accumulation", (6, 16, 3), np.float64, 1e-12, 32, micro=2))
    checks.run("unused parameter + synchronize", lambda: data_parallel(
        "unused parameter + synchronize", (6, 16, 3), np.float64, 1e-12, 32, bucket_mb=0.001,
        extra=True))

    def unused_is_an_error():
        X, labels = data(6, 3, 8, np.float64)
        model = Model((6, 5, 3), np.float64, 1, extra=True)
        dp = dist.DataParallel(model.params)
        model.loss(dist.shard(X), dist.shard(labels)).backward()
        try:
            model.loss(dist.shard(X), dist.shard(labels)).backward()
            checks.check("unused parameter without synchronize: an error", False, "no error")
        except RuntimeError as err:
            checks.check("unused parameter without synchronize: an error",
                         "received no gradient" in str(err) and "synchronize" in str(err), err)
        dp.remove()

    checks.run("unused parameter without synchronize: an error", unused_is_an_error)

    # --- 2. functional: cr.grad on the shard, dist.all_reduce of the gradient pytree -------
    sizes = (6, 16, 16, 3)
    X, labels = data(6, 3, 32, np.float64)

    def functional():
        params = dist.broadcast(init_params(sizes, np.float64, 20 + r))
        ref = [p.copy() for p in params]
        grad = cr.grad(mlp_loss)
        for _ in range(STEPS):
            g = dist.all_reduce(grad(params, dist.shard(X), dist.shard(labels)))
            params = [p - LR * gp for p, gp in zip(params, g)]
            ref = [p - LR * gp for p, gp in zip(ref, grad(ref, X, labels))]
        err = rel_err(params, ref)
        checks.check("functional all_reduce: 2 processes = 1 process", err <= 1e-12, err)

    checks.run("functional all_reduce", functional)

    # --- 3. jit: the mean over the processes inside the compiled step ---------------------
    def jitted():
        params = dist.broadcast(init_params(sizes, np.float64, 30 + r))
        ref = [p.copy() for p in params]

        @cr.jit
        def step(params, X, labels):
            g = cr.pmean(cr.grad(mlp_loss)(params, X, labels), dist.WORLD)
            return [p - LR * gp for p, gp in zip(params, g)]

        plain = cr.jit(lambda p, X, labels: [a - LR * b for a, b in
                                             zip(p, cr.grad(mlp_loss)(p, X, labels))])
        for _ in range(STEPS):
            params = step(params, dist.shard(X), dist.shard(labels))
            ref = plain(ref, X, labels)
        err = rel_err(params, ref)
        checks.check("jit with pmean over WORLD: 2 processes = 1 process", err <= 1e-12, err)

    checks.run("jit with pmean over WORLD", jitted)
    dist.barrier()
    checks.write(r, calls=dict(comm.calls), nn=nn is not None)


if __name__ == "__main__":
    main()
