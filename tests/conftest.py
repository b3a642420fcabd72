"""Fixtures shared by the test files."""

import gc

import pytest


@pytest.fixture
def no_gc():
    """Run the test with the cyclic garbage collector off: only reference counting frees."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
