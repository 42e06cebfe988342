"""The compressors a tezip user would pick instead, each in its own error-bounded mode.

Settings follow each peer's documented error-bounded mode.  Every factory returns a Codec, or a
short reason why the peer does not apply to the data and mode (these become "n/a" notes in the
report, never errors)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from .codec import Blob, Codec, Compressor, module_probe
from .modes import Mode
from .represent import Repr, floating, native, unsigned, widened

LOSSLESS_ONLY = "lossless only"
INTEGERS_16 = "integer data spanning at most 16 bits only"


def _int(x: np.ndarray) -> bool:
    return np.issubdtype(x.dtype, np.integer)


def _raw(x: np.ndarray, data: bytes | memoryview, dtype: np.dtype) -> np.ndarray:
    return np.frombuffer(data, dtype).reshape(x.shape)


def _per_frame(
    rep: Repr, enc: Callable[[np.ndarray], bytes], dec: Callable[[bytes], np.ndarray]
) -> Codec:
    """A 2-D codec applied frame by frame; the blob is the list of frame streams."""
    return Codec(
        lambda a: [enc(f) for f in rep.fwd(a)], lambda bs: rep.inv(np.stack([dec(b) for b in bs]))
    )


# --------------------------------------------------------------------------- general purpose


def _zstd(level: int) -> Callable[[np.ndarray, Mode], Codec | str]:
    """zstd at ``level`` on the raw array bytes, one frame for the whole stack."""

    def make(x: np.ndarray, mode: Mode) -> Codec | str:
        if not mode.lossless:
            return LOSSLESS_ONLY
        import zstandard

        return Codec(
            lambda a: zstandard.ZstdCompressor(level=level).compress(a.data),
            lambda b: _raw(x, zstandard.ZstdDecompressor().decompress(b), x.dtype),
        )

    return make


def _blosc2(x: np.ndarray, mode: Mode) -> Codec | str:
    if not mode.lossless:
        return LOSSLESS_ONLY
    import blosc2

    params = blosc2.CParams(
        codec=blosc2.Codec.ZSTD, clevel=5, filters=[blosc2.Filter.BITSHUFFLE], nthreads=1
    )
    return Codec(
        lambda a: blosc2.asarray(a, chunks=(1, *a.shape[1:]), cparams=params).to_cframe(),
        lambda b: blosc2.ndarray_from_cframe(b)[:],
    )


def _pcodec(x: np.ndarray, mode: Mode) -> Codec | str:
    if not mode.lossless:
        return LOSSLESS_ONLY
    rep = widened(
        x,
        (
            np.uint16,
            np.int16,
            np.uint32,
            np.int32,
            np.uint64,
            np.int64,
            np.float16,
            np.float32,
            np.float64,
        ),
    )
    if rep is None:
        return f"no {x.dtype} support"
    from pcodec import ChunkConfig, standalone

    return Codec(
        lambda a: standalone.simple_compress(rep.fwd(a).ravel(), ChunkConfig()),
        lambda b: rep.inv(standalone.simple_decompress(b).reshape(x.shape)),
    )


# --------------------------------------------------------------------------- scientific floats


def _sz3(x: np.ndarray, mode: Mode) -> Codec | str:
    if mode.lossless:
        return "no lossless mode"
    rep = widened(x, (np.float32, np.float64, np.int32, np.int64))
    if rep is None:
        return f"no {x.dtype} support"
    from pysz import sz, szConfig, szErrorBoundMode

    def enc(a: np.ndarray) -> Blob:
        w = rep.fwd(a)
        cfg = szConfig(w.shape)
        cfg.errorBoundMode = szErrorBoundMode.ABS
        cfg.absErrorBound = float(mode.bound)
        return sz.compress(w, cfg)[0]

    return Codec(enc, lambda b: rep.inv(sz.decompress(b, rep.dtype, x.shape)[0]))


def _zfp(x: np.ndarray, mode: Mode) -> Codec | str:
    if mode.lossless:  # reversible mode
        rep = widened(x, (np.float32, np.float64, np.int32, np.int64))
        kwargs = {}
    else:
        rep = floating(x)
        kwargs = {"tolerance": float(mode.bound)}
    if rep is None:
        return f"no {x.dtype} support"
    import zfpy

    return Codec(
        lambda a: zfpy.compress_numpy(rep.fwd(a), **kwargs),
        lambda b: rep.inv(zfpy.decompress_numpy(b)),
    )


def _sperr(x: np.ndarray, mode: Mode) -> Codec | str:
    if mode.lossless:
        return "no lossless mode"
    if x.dtype not in (np.float32, np.float64) or x.ndim != 3:
        return "float (T, H, W) data only"
    import h5py
    import hdf5plugin

    chunks = (min(len(x), 64), *x.shape[1:])

    def enc(a: np.ndarray) -> Blob:
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            f.create_dataset(
                "d", data=a, chunks=chunks, **hdf5plugin.Sperr(absolute=float(mode.bound))
            )
        return buf.getvalue()

    def dec(b: Blob) -> np.ndarray:
        with h5py.File(io.BytesIO(b), "r") as f:
            return f["d"][...]

    return Codec(enc, dec)


def _fpzip(x: np.ndarray, mode: Mode) -> Codec | str:
    if not mode.lossless:
        return LOSSLESS_ONLY
    if x.dtype not in (np.float32, np.float64):
        return "float data only"
    import fpzip

    return Codec(
        lambda a: fpzip.compress(a, precision=0, order="C"),
        lambda b: fpzip.decompress(b, order="C").reshape(x.shape),
    )


def _lerc(x: np.ndarray, mode: Mode) -> Codec | str:
    rep = widened(
        x, (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.float32, np.float64)
    )
    if rep is None:
        return f"no {x.dtype} support"
    import imagecodecs

    level = 0 if mode.lossless else mode.bound
    return _per_frame(
        rep, lambda f: imagecodecs.lerc_encode(f, level=level), imagecodecs.lerc_decode
    )


# --------------------------------------------------------------------------- image codecs


def _image(
    name: str, lossy: bool = False, **kwargs: object
) -> Callable[[np.ndarray, Mode], Codec | str]:
    """An imagecodecs codec on integer frames of up to 16 bits (``lossy``: level = bound)."""

    def make(x: np.ndarray, mode: Mode) -> Codec | str:
        if not (mode.lossless or lossy):
            return LOSSLESS_ONLY
        rep = unsigned(x)
        if rep is None:
            return INTEGERS_16
        import imagecodecs

        enc, dec = getattr(imagecodecs, f"{name}_encode"), getattr(imagecodecs, f"{name}_decode")
        args = {"level": int(mode.bound or 0)} if lossy else kwargs
        return _per_frame(rep, lambda f: enc(f, **args), dec)

    return make


def _jpegxl(x: np.ndarray, mode: Mode) -> Codec | str:
    if not mode.lossless:
        return LOSSLESS_ONLY
    rep = native(x) if x.dtype == np.float32 else unsigned(x)
    if rep is None:
        return "integers of up to 16 bits or float32 only"
    import imagecodecs

    return _per_frame(
        rep,
        lambda f: imagecodecs.jpegxl_encode(f, lossless=True, effort=7),
        imagecodecs.jpegxl_decode,
    )


def _webp(x: np.ndarray, mode: Mode) -> Codec | str:
    if not mode.lossless:
        return LOSSLESS_ONLY
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] not in (3, 4):
        return "uint8 RGB(A) only"
    import imagecodecs

    return _per_frame(
        native(x), lambda f: imagecodecs.webp_encode(f, lossless=True), imagecodecs.webp_decode
    )


# --------------------------------------------------------------------------- video codecs

FFV1_OPTIONS = {"level": "3", "coder": "1", "context": "1"}
X264_OPTIONS = {"qp": "0"}
X265_OPTIONS = {"x265-params": "lossless=1:log-level=error"}
# layout -> (numpy frame format for PyAV, codec, stream pixel format)
FFV1_FORMATS = {
    "gray8": ("gray", "ffv1", "gray"),
    "gray16": ("gray16le", "ffv1", "gray16le"),
    "rgb8": ("rgb24", "ffv1", "bgr0"),
}
X264_FORMATS = {"gray8": ("gray", "libx264", "gray"), "rgb8": ("rgb24", "libx264rgb", "rgb24")}
X265_FORMATS = {"gray8": ("gray", "libx265", "gray"), "rgb8": ("rgb24", "libx265", "gbrp")}


def _layout(dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
    bits = dtype.itemsize * 8
    if len(shape) == 3:
        return f"gray{bits}"
    return "rgb8" if shape[3] == 3 and bits == 8 else None


def _decode_frame(frame: object, fmt: str) -> np.ndarray:
    """Gray frames: read the Y plane itself, as x264 qp0 gray decodes to YUV 4:2:0 (PEERS.md)."""
    if fmt != "gray":
        return frame.to_ndarray(format=fmt)
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def _video(
    formats: dict[str, tuple[str, str, str]], options: dict[str, str]
) -> Callable[[np.ndarray, Mode], Codec | str]:
    """A lossless video codec through PyAV, frames muxed into Matroska in memory."""

    def make(x: np.ndarray, mode: Mode) -> Codec | str:
        if not mode.lossless:
            return LOSSLESS_ONLY
        rep = unsigned(x)
        layout = rep and _layout(rep.dtype, x.shape)
        if layout not in formats:
            return f"only {', '.join(formats)} frames"
        fmt, codec, pix_fmt = formats[layout]
        import av

        def enc(a: np.ndarray) -> Blob:
            buf = io.BytesIO()
            with av.open(buf, "w", format="matroska") as box:
                stream = box.add_stream(codec, rate=25)
                stream.width, stream.height, stream.pix_fmt = a.shape[2], a.shape[1], pix_fmt
                stream.options = options
                for f in rep.fwd(a):
                    box.mux(stream.encode(av.VideoFrame.from_ndarray(f, format=fmt)))
                box.mux(stream.encode())
            return buf.getvalue()

        def dec(b: Blob) -> np.ndarray:
            with av.open(io.BytesIO(b)) as box:
                return rep.inv(np.stack([_decode_frame(f, fmt) for f in box.decode(video=0)]))

        return Codec(enc, dec)

    return make


def _av_probe(codecs: set[str]) -> Callable[[], object]:
    def probe() -> object:
        import av

        missing = codecs - av.codecs_available
        if missing:
            raise ImportError(f"PyAV is built without {', '.join(sorted(missing))}")
        return av

    return probe


IC = "imagecodecs"
PEERS = (  # name, factory, probe, settings
    ("zstd", _zstd(9), module_probe("zstandard"), "level 9 on the raw bytes"),
    ("zstd-19", _zstd(19), module_probe("zstandard"), "level 19 on the raw bytes"),
    ("blosc2", _blosc2, module_probe("blosc2"), "zstd 5 + bitshuffle, a chunk per frame"),
    ("pcodec", _pcodec, module_probe("pcodec"), "default ChunkConfig, flattened"),
    ("sz3", _sz3, module_probe("pysz"), "pysz ABS, interpolation + Lorenzo, whole stack"),
    ("zfp", _zfp, module_probe("zfpy"), "fixed accuracy; reversible when lossless"),
    ("sperr", _sperr, module_probe("hdf5plugin"), "hdf5plugin absolute, 64-frame chunks"),
    ("fpzip", _fpzip, module_probe("fpzip"), "precision 0 (lossless)"),
    ("lerc", _lerc, module_probe(IC, "LERC"), "maxZError = bound, per frame"),
    ("jpegls", _image("jpegls", lossy=True), module_probe(IC, "JPEGLS"), "NEAR = bound, per frame"),
    ("jpegxl", _jpegxl, module_probe(IC, "JPEGXL"), "lossless, effort 7, per frame"),
    ("jpeg2k", _image("jpeg2k", level=0), module_probe(IC, "JPEG2K"), "lossless, per frame"),
    ("htj2k", _image("htj2k", level=0), module_probe(IC, "HTJ2K"), "lossless, per frame"),
    ("png", _image("png", level=6), module_probe(IC, "PNG"), "zlib level 6, per frame"),
    ("webp", _webp, module_probe(IC, "WEBP"), "lossless, per frame"),
    ("ffv1", _video(FFV1_FORMATS, FFV1_OPTIONS), _av_probe({"ffv1"}), "level 3, range coder"),
    ("x264", _video(X264_FORMATS, X264_OPTIONS), _av_probe({"libx264", "libx264rgb"}), "qp 0"),
    ("x265", _video(X265_FORMATS, X265_OPTIONS), _av_probe({"libx265"}), "lossless=1"),
)


def peers() -> list[Compressor]:
    """Every peer, in report order (general purpose, scientific, image, video)."""
    return [Compressor(name, "peer", make, probe, note) for name, make, probe, note in PEERS]
