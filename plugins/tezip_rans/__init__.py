"""The ``tezip.rans`` stage: spatial prediction on the code grid and context-modelled rANS."""

from tezip import kernelcache  # noqa: F401  (before this package's kernels: checks their caches)
