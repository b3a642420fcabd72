"""chainrule's benchmark harness: workloads of BENCHMARKS.md, timed against peer libraries.

``python -m benchmarks [IDS...] [--rounds N] [--quick] [--profile] [--ab REV]``; see README.md.
Workloads register themselves in `benchmarks.registry.REGISTRY` when
`benchmarks.workloads` is imported.
"""
