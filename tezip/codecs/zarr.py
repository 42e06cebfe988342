"""The Zarr v3 array-to-bytes codec ``tezip`` (entry point ``zarr.codecs``; ``pip install
'tezip[zarr]'``): ``zarr.create_array(..., serializer=TezipCodec(abs=0.5))``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import JSON, parse_named_configuration

from tezip.codecs.chunk import ChunkCoder
from tezip.codes import SUPPORTED_DTYPES
from tezip.errors import OptionError

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.dtype.wrapper import TBaseDType, TBaseScalar, ZDType

NAME = "tezip"


@dataclass(frozen=True)
class TezipCodec(ArrayBytesCodec):  # type: ignore[misc]
    """Each chunk as one compact ``.tez`` archive (:mod:`tezip.codecs.chunk`), configured with
    ``tezip pack``'s options (absolute bounds only); lossless without a bound."""

    is_fixed_size = False

    configuration: dict[str, JSON]

    def __init__(self, **configuration: Any) -> None:
        object.__setattr__(self, "configuration", configuration)
        object.__setattr__(self, "_coder", ChunkCoder(**configuration))

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        _, configuration = parse_named_configuration(data, NAME, require_configuration=False)
        return cls(**(configuration or {}))

    def to_dict(self) -> dict[str, JSON]:
        return {"name": NAME, "configuration": dict(self.configuration)}

    def validate(
        self,
        *,
        shape: tuple[int, ...],
        dtype: ZDType[TBaseDType, TBaseScalar],
        chunk_grid: ChunkGrid,
    ) -> None:
        native = np.dtype(dtype.to_native_dtype())
        if native.newbyteorder("=").name not in SUPPORTED_DTYPES:
            raise OptionError(
                f"tezip codes {', '.join(SUPPORTED_DTYPES)} arrays, not {native.name}", "dtype"
            )

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError  # a compressor: the size depends on the data

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        chunk = np.asarray(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(self._coder.encode(chunk))

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        native = np.dtype(chunk_spec.dtype.to_native_dtype())
        frames = self._coder.decode(chunk_bytes.to_bytes(), chunk_spec.shape, native)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(frames.astype(native, copy=False))

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)
