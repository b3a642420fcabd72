"""The scripts here run under ``mpiexec`` (tests/test_distributed.py launches them); pytest
does not collect them (nor import them for doctests)."""

collect_ignore_glob = ["mpi_*.py"]
