"""One module per workload; importing this package registers them all, in this order."""

from benchmarks.workloads import w01, w02, w05, w07, w10, w11, w12, w13, w14, m1, c1, i1  # noqa: F401
