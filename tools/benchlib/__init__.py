"""Helpers of ``tools/bench.py``: run tezip and its peers on the same frames and report."""
