"""Doctest collection: modules whose optional dependency is missing are not collected (their
tests skip with a reason, and fail under CI=true: see tests/conftest.py)."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("scipy") else ["chainrule/scipy/*.py"]
