"""Shared fixtures and hypothesis profiles."""

from __future__ import annotations

import os

# numba's CUDA target is its simulator unless a run asks for a real device with
# NUMBA_ENABLE_CUDASIM=0 (tools/gpu_check.py): the CUDA twins are proven on every run. Set before
# anything imports numba, which reads it once.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
