"""tezip: error-bounded predictive compression of time-evolving image data.

>>> import tezip
>>> tezip.pack(frames, "run.tez", abs=2)     # every value within 2 of the original
>>> tezip.unpack("run.tez")                  # -> ndarray
>>> data = tezip.encode(frames, abs=2)       # bytes, no file; tezip.decode(data) -> ndarray
>>> with tezip.open("run.tez") as archive:   # random access: decodes only the GOPs needed
...     frame = archive[100]
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from tezip import kernelcache  # noqa: F401  (first: checks the caches of the kernels below)
from tezip.api import PackResult, UnpackResult, decode, encode, open, pack, unpack, unpack_to
from tezip.errors import TezipError
from tezip.hookspecs import hookimpl

logging.getLogger(__name__).addHandler(logging.NullHandler())  # diagnostics, at DEBUG

__all__ = [
    "PackResult",
    "TezipError",
    "UnpackResult",
    "__version__",
    "decode",
    "encode",
    "hookimpl",
    "open",
    "pack",
    "unpack",
    "unpack_to",
]
