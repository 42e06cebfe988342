"""Frames stored in one ``.npy`` array, memory-mapped so only the frames read touch memory."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tezip.errors import InputError
from tezip.io.source import ArraySource, reason


class NpySource(ArraySource):
    """A ``.npy`` file shaped ``(frames, H, W)`` or ``(frames, H, W, C)``.

    Any byte order and memory order is accepted; :meth:`read` returns native-order,
    C-contiguous frames.
    """

    kind = "npy"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except OSError as err:
            raise InputError(f"{self.path}: cannot read the file ({reason(err)})") from None
        except (ValueError, EOFError) as err:
            if not _starts_like_npy(self.path):  # NumPy would call it pickled data
                raise InputError(
                    f"{self.path}: not a valid .npy file (it does not start with the .npy "
                    "signature)"
                ) from None
            raise InputError(f"{self.path}: not a valid .npy file ({reason(err)})") from None
        if not isinstance(array, np.ndarray):  # an .npz archive under an .npy name
            raise InputError(f"{self.path}: is an .npz archive, not an .npy array")
        super().__init__(array, str(self.path))

    def __reduce__(self) -> tuple[type[NpySource], tuple[Path]]:
        """Pickled as its path, not its frames (Dask sends sources to workers)."""
        return NpySource, (self.path,)


def read_npy_stream(stream: BinaryIO, what: str = "stdin") -> ArraySource:
    """The ``.npy`` array a stream holds (``tezip pack - ...``), read into memory."""
    data = stream.read()
    if not data.startswith(np.lib.format.MAGIC_PREFIX):
        raise InputError(f"{what}: not a .npy array (it does not start with the .npy signature)")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise InputError(f"{what}: not a valid .npy array ({reason(err)})") from None
    return ArraySource(array, what)


def _starts_like_npy(path: Path) -> bool:
    """True when the file starts with the ``.npy`` signature (``\\x93NUMPY``)."""
    with open(path, "rb") as handle:
        return handle.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX
