"""Zarr arrays (format 2 and 3) as tezip inputs and outputs (``tezip[zarr]``)."""
