"""tezip's density-based spatial encoding and partitioned entropy coding stages (NumPy)."""

from tezip_density.stage import DensityStage

__all__ = ["DensityStage"]
