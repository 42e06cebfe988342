#!/usr/bin/env python3
"""Check tezip's CUDA twins on a GPU, and measure them against the prediction of their layout.

    python tools/gpu_check.py             # on a CUDA machine: tests, then benchmarks (minutes)
    python tools/gpu_check.py --bench     # the benchmarks only
    python tools/gpu_check.py --ptx       # no GPU needed: compile every kernel for sm_90

On a machine with a GPU (numba-cuda and CuPy installed: ``pip install 'tezip[gpu]'``), it
runs the twin tests (``tests/test_cuda_*.py``, which CI runs in numba's CUDA simulator) and
every test marked ``gpu`` with the compiled kernels (``NUMBA_ENABLE_CUDASIM=0``), then codes
about 1 GiB of codes resident on the device: the repository's real cell frames
(``tests/data/cells``, 16 frames of 96 x 96) as recorded and tiled to 256 x 256, repeated in
time, as previous-frame residuals in GOPs of 16 frames. It checks the first GOPs' streams
against the CPU coder byte for byte, and prints for each kernel the measured GB/s (bytes
of codes per second) beside the prediction of spec/stages/tezip.rans.md section 11 for the
partitions the batch has, and the grid quantizer's passes on 256 MiB of float32. Last, it
packs and unpacks 2048 cell frames of 256 x 256 end to end on the GPU (GOPs in batches):
the default pipeline, and PredNet with the generic slim model and with an original-size
one, in frames/s, each archive's first GOP decoded again on the CPU and checked; and how far
PredNet's corrections on the GPU lie from the CPU's, against the margin that covers them.
Nothing is claimed that it did not measure.

``--ptx`` compiles every kernel with numba-cuda for compute capability 9.0 and reports each
one's registers (with ``ptxas`` where the CUDA toolkit wheels have it): proof, without a GPU,
that the twins compile for one, and that none fuses a multiply and an add (NVVM does by
default; the CPU kernels round each operation, so a fused one would code other bytes).

On a lent machine whose Python has numba-cuda, CuPy, torch, pytest and hypothesis but not
tezip's zstandard and zlib-ng, bring their wheels in ``.whl/`` (git ignores it, so a device
run carries it by name) and install tezip without the network (these steps were checked in
a clone with a bare Python holding the same packages)::

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl zstandard==0.25.0 zlib-ng==1.1.0                        # here, once
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site \
        && python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . \
        && PYTHONUNBUFFERED=1 python3 tools/gpu_check.py                # there
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CELLS = ROOT / "tests" / "data" / "cells"
#: cycles one lane spends per element (spec/stages/tezip.rans.md, section 11)
CYCLES = {"decode": 500, "analyse": 300, "encode": 150}
#: the clock the prediction assumes where the device does not say (an H200's boost)
CLOCK_HZ = 1.98e9


def cell_frames(side: int) -> np.ndarray:
    """The 16 cell frames (uint8), tiled or cut to ``side`` x ``side``."""
    from PIL import Image

    frames = np.stack([np.array(Image.open(CELLS / f"cells_{i}.png")) for i in range(1, 17)])
    reps = -(-side // frames.shape[1])
    return np.ascontiguousarray(np.tile(frames, (1, reps, reps))[:, :side, :side])


def residual_gops(side: int, gop: int, count: int) -> np.ndarray:
    """``count`` GOPs of ``gop`` frames of previous-frame residuals (the first frame as it
    is), each GOP a different run of the cells, mirrored every other time."""
    frames = cell_frames(side)
    out = np.empty((count, gop, side, side), np.uint8)
    for index in range(count):
        run = np.take(frames, np.arange(index, index + gop) % len(frames), axis=0)
        run = run[:, :, ::-1] if index % 2 else run
        out[index] = run
        np.subtract(run[1:], run[:-1], out=out[index, 1:])
    return out


def predicted(kernel: str, partitions: int, elements: int, bytes_each: int, clock: float) -> float:
    """GB/s the layout predicts for ``partitions`` lanes of ``elements`` elements each."""
    seconds = elements * CYCLES[kernel] / clock
    return partitions * elements * bytes_each / seconds / 1e9


def device_facts() -> tuple[str, int, float]:
    """The device's name, multiprocessor count and clock (Hz)."""
    from numba import cuda

    device = cuda.current_context().device
    name = getattr(device, "name", b"?")
    name = name.decode() if isinstance(name, bytes) else str(name)
    sms = int(getattr(device, "MULTIPROCESSOR_COUNT", 0))
    clock = float(getattr(device, "CLOCK_RATE", 0)) * 1e3 or CLOCK_HZ
    return name, sms, clock


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``action`` takes, the device synchronised before and after."""
    from numba import cuda

    cuda.synchronize()
    start = time.perf_counter()
    result = action()
    cuda.synchronize()
    return time.perf_counter() - start, result


def bench_coder(side: int, gop: int, gib: float, check: int, clock: float) -> Iterator[str]:
    """Rows of the coder benchmark for one frame size."""
    from numba import cuda

    from tezip_rans import cudacoder, model, stream
    from tezip_rans.field import field_dtype, to_field
    from tezip_rans.stage import Prepared, RansStage, partition_rows, prepare

    count = max(1, round(gib * 2**30 / (gop * side * side)))
    gops = residual_gops(side, gop, count)
    started = time.perf_counter()
    chosen = [prepare(g, 2).choices for g in gops[: min(count, 2)]]  # mirrored runs alternate
    choosing = (time.perf_counter() - started) / len(chosen)
    rows = partition_rows((gop, 1, side, side))
    batch = [
        Prepared(g.shape, 8, choices, to_field(g, choices.offset_binary, choices.relative), rows)
        for g, choices in zip(gops, chosen * count, strict=False)
    ]
    fields = cuda.to_device(np.stack([g.field for g in batch]))
    parameters = np.stack([g.choices.parameters for g in batch])
    analysing, found = timed(lambda: cudacoder.analyse(fields, parameters, rows))
    copying, histograms = timed(found.histograms.copy_to_host)
    started = time.perf_counter()
    models = [model.tables(histogram) for histogram in histograms]
    modelling = (time.perf_counter() - started) / count
    encoding, coded = timed(
        lambda: cudacoder.encode(found, [m for m, _ in models], [f for _, f in models])
    )
    streams = [g.written(*m, parts) for g, m, parts in zip(batch, models, coded, strict=True)]
    cpu, gpu = RansStage(), RansStage()
    gpu.device = "cuda"
    checked = gops[: min(check, count)]
    if gpu.encode_batch(checked) != [cpu.encode(g) for g in checked]:
        raise SystemExit(f"{side} x {side}: the GPU's streams differ from the CPU's")
    parsed = [stream.read(data, gops.shape[1:], 8) for data in streams]
    shape = batch[0].field.shape
    uploading, uploaded = timed(lambda: cudacoder.upload(streams, parsed))
    decoding, (values, statuses) = timed(lambda: cudacoder.decode(uploaded, shape, field_dtype(8)))
    expected = np.stack([g.field for g in batch])
    if statuses.any() or not np.array_equal(values.copy_to_host(), expected):
        raise SystemExit(f"{side} x {side}: the GPU decoded other values than were coded")
    codes, partitions, each = gops.nbytes, found.counts.size, int(found.counts.max())
    title = f"{count} GOPs of {gop} x {side} x {side}, {partitions} partitions of {each}"
    expect = {k: predicted(k, partitions, each, 1, clock) for k in CYCLES}
    both = 1 / (1 / expect["analyse"] + 1 / expect["encode"])
    yield f"| {title} | decode | {codes / decoding / 1e9:.2f} | {expect['decode']:.1f} |"
    coding = analysing + encoding
    yield f"| {title} | analyse + encode | {codes / coding / 1e9:.2f} | {both:.1f} |"
    host = count * (choosing + modelling)
    moved = copying + uploading
    yield f"| {title} | encode, host work serial | {codes / (coding + host) / 1e9:.3f} | - |"
    yield (
        f"| {title} | host work per GOP | choices {choosing * 1e3:.1f} ms, "
        f"model {modelling * 1e3:.1f} ms | - |"
    )
    yield (
        f"| {title} | transfers | histograms to the host {copying * 1e3:.0f} ms, streams "
        f"and tables to the device {uploading * 1e3:.0f} ms ({moved * 1e3:.0f} ms) | - |"
    )


def bench_grid(mib: float) -> Iterator[str]:
    """Rows of the grid quantizer's passes on float32 frames resident on the device."""
    from numba import cuda

    from tezip import gridcuda

    rng = np.random.default_rng(0)
    size = max(1, int(mib * 2**20 / 4))
    frames = cuda.to_device((rng.standard_normal(size) * 100).astype(np.float32))
    q = cuda.device_array(size, np.int64)
    invalid = cuda.device_array(size, np.bool_)
    codes = cuda.device_array(size, np.uint32)
    reconstruction = cuda.device_array(size, np.float32)
    outliers = cuda.device_array(size, np.bool_)
    gridcuda.floats(frames, 0.02, 0.0, q, invalid)  # compiled before it is timed
    first, (low, _) = timed(lambda: gridcuda.floats(frames, 0.02, 0.0, q, invalid))
    arguments = (frames, q, invalid, low, 0.02, 0.0, 0.01, codes, reconstruction, outliers)
    gridcuda.float_codes(*arguments)
    second, _ = timed(lambda: gridcuda.float_codes(*arguments))
    yield f"| grid quantizer, {size} float32 | first pass | {size * 4 / first / 1e9:.1f} | - |"
    yield f"| grid quantizer, {size} float32 | second pass | {size * 4 / second / 1e9:.1f} | - |"


def untrained_original_model(path: Path) -> Path:
    """A PredNet of the original paper's size (48, 96, 192 channels), random weights: for
    speed only (its predictions are poor)."""
    import torch

    from tezip_prednet import models
    from tezip_prednet.architecture import Architecture
    from tezip_prednet.network import PredNet

    torch.manual_seed(0)
    network = PredNet(Architecture.preset("original", 1))
    torch.nn.init.normal_(network.ahat[0].weight, std=0.01)
    path.write_bytes(models.to_model_file(network, {"seed": 0}).to_bytes())
    return path


def bench_pipeline(count: int, side: int, device: str, model: Path) -> Iterator[str]:
    """Rows of ``tezip.encode`` / ``tezip.decode`` end to end on ``device`` (GOPs in GPU
    batches), lossless, on ``count`` cell frames of ``side`` x ``side``: the default
    pipeline, PredNet with the generic (slim) model and with an original-size one; and
    whether each archive decodes exactly in another batch and on the CPU."""
    import tezip

    frames = np.ascontiguousarray(np.resize(cell_frames(side), (count, side, side)))
    runs = {
        "default level": {},
        "PredNet, slim generic model": {"predictor": "tezip.prednet"},
        "PredNet, original size": {
            "predictor": "tezip.prednet",
            "model": model,
            "embed_model": True,
        },
    }
    for label, options in runs.items():
        tezip.decode(tezip.encode(frames[:2], device=device, **options))  # compiled, loaded
        packing, data = timed(
            lambda options=options: tezip.encode(frames, device=device, **options)
        )
        title = f"{label}, {count} frames of {side} x {side}, on {device}"
        ratio = f"ratio {frames.nbytes / len(data):.2f}"
        try:
            unpacking, decoded = timed(lambda data=data: tezip.unpack(data, device=device))
        except tezip.TezipError as error:
            yield f"| {title} | unpack | FAILED: {error} | {ratio} |"
            continue
        for step, seconds in (("pack", packing), ("unpack", unpacking)):
            rate = f"{count / seconds:.0f} frames/s, {frames.nbytes / seconds / 1e6:.0f} MB/s"
            yield f"| {title} | {step} | {rate} | {ratio} |"
        exact = "exact" if np.array_equal(decoded, frames) else "FAILED: other frames"
        yield f"| {title} | unpacked | {exact} | - |"
        yield f"| {title} | decoded elsewhere | {decoded_elsewhere(data, frames, device)} | - |"


def decoded_elsewhere(data: bytes, frames: np.ndarray, device: str) -> str:
    """``exact`` when the archive's last GOP decodes exactly alone on ``device`` (not in the
    batch it was coded in) and its first GOP on the CPU; else what failed."""
    import tezip

    with tezip.open(data) as archive:
        gops = archive.gops
    checks = ((f"alone on {device}", gops[-1], device), ("on the CPU", gops[0], "cpu"))
    failed = []
    for what, entry, where in checks:
        span = slice(entry.first, entry.first + entry.count)
        try:
            same = np.array_equal(tezip.unpack(data, span, device=where), frames[span])
        except tezip.TezipError as error:
            failed.append(f"FAILED {what}: {error}")
            continue
        if not same:
            failed.append(f"FAILED {what}: other frames")
    return "; ".join(failed) or "exact"


def network_drift(frames: np.ndarray, device: str) -> str:
    """A row: how far the slim generic PredNet's corrections on ``device`` lie from the
    CPU's for the same inputs (one GOP of ``frames``, each device fed the true frames), and
    how many elements that moves by their ambiguity band or more (spec/stages/
    tezip.prednet.md): had one lain that near a rounding boundary, the side information
    would not cover it and the GOP would fail its checksum on the other device."""
    from tezip.abc import RunContext
    from tezip.testing import space_for
    from tezip_prednet.predictor import DEFAULT_MARGIN, PrednetPredictor

    corrections = {}
    for where in (device, "cpu"):
        predictor = PrednetPredictor()
        predictor.bind(RunContext(where))
        states = predictor.start_batch([space_for(frames.dtype)], frames.shape[1:])
        seen: list[np.ndarray] = []

        def recorded(bases: Any, advance: Any = states._advance, seen: list = seen) -> Any:
            seen.append(advance(bases))  # the network's step, and what it output
            return seen[-1]

        states._advance = recorded
        for frame in frames:
            states.predict([0], [None])
            states.update([0], [frame])
        corrections[where] = np.stack(seen).astype(np.float64)
    drift = np.abs(corrections[device] - corrections["cpu"])
    band = DEFAULT_MARGIN * (np.abs(corrections["cpu"]) + 1e-3)
    largest = float(np.abs(corrections["cpu"]).max()) or 1.0
    title = f"PredNet corrections, {device} against the CPU, {len(frames)} frames of " + (
        " x ".join(map(str, frames.shape[1:3]))
    )
    return (
        f"| {title} | largest difference {drift.max():.1e} ({drift.max() / largest:.1e} of the "
        f"largest correction) | {int((drift >= band).sum())} of {drift.size} elements moved by "
        f"their band or more (at worst {float((drift / band).max()):.2g} bands) |"
    )


def bench(args: argparse.Namespace) -> None:
    name, sms, clock = device_facts()
    print(f"\n{name}: {sms} multiprocessors, {clock / 1e9:.2f} GHz\n")
    print("| batch | kernel | measured GB/s | predicted GB/s |")
    print("|---|---|---|---|")
    for side in args.sides:
        compiling, _ = timed(lambda side=side: list(bench_coder(side, args.gop, 0, 1, clock)))
        print(
            f"| first batch of {side} x {side} (kernels compiled) | all | {compiling:.1f} s | - |"
        )
        for row in bench_coder(side, args.gop, args.gib, args.check, clock):
            print(row, flush=True)
    for row in bench_grid(args.grid_mib):
        print(row, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        model = untrained_original_model(Path(folder) / "original.tezm")
        for row in bench_pipeline(args.frames, 256, "cuda", model):
            print(row, flush=True)
    print(network_drift(cell_frames(256), "cuda"), flush=True)


def test() -> int:
    """The twin tests and the ``gpu`` tests on the device (compiled kernels)."""
    environment = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", ""]
    files = [str(path) for path in sorted((ROOT / "tests").glob("test_cuda_*.py"))]
    twins = subprocess.run([*command, *files], cwd=ROOT, env=environment, check=False)
    marked = subprocess.run([*command[:-1], "gpu", "tests"], cwd=ROOT, env=environment, check=False)
    return twins.returncode or (marked.returncode if marked.returncode != 5 else 0)


#: each kernel's argument types, as its host code passes them: ``i8:3`` an int64 array of three
#: dimensions, ``V`` the dtype of the values, ``int`` and ``float`` scalars
KERNELS = (
    (
        "tezip_rans.cudakernels",
        ("i2", "i4", "i8"),
        {
            "interleave": "V:5 int V:5",
            "deinterleave": "V:5 int V:5",
            "analyse": "V:5 int i8:3 i8:3 u2:2 u1:2 u1:1 i8:1 i8:1 u1:5",
            "encode": "u2:2 u1:2 i8:1 int i8:2 u8:3 u1:1 i8:1 i8:1",
            "decode": "u1:1 i8:2 i8:2 i8:2 int i8:3 u1:3 u1:1 u4:1 i8:2 V:5 u1:5 i8:1",
            "gather": "u1:1 i8:1 i8:1 i8:1 u1:1",
        },
    ),
    (
        "tezip.gridcuda",
        ("u1", "i2", "i4", "u4"),
        {
            "_integers": "V:1 int int int i8:1 i8:1 i8:1",
            "_integer_codes": "V:1 i8:1 int int int int int int u4:1 V:1 b1:1 i8:1",
        },
    ),
    (
        "tezip.gridcuda",
        ("f4", "f8"),
        {
            "_floats": "V:1 float float i8:1 b1:1 i8:1 i8:1",
            "_float_codes": "V:1 i8:1 b1:1 int float float float u8:1 V:1 b1:1 i8:1",
        },
    ),
)


#: a fused multiply-add in PTX, and what ``--ptx`` reports of a kernel that has one
FUSED = "fma."
FUSED_FAILURE = "fuses a multiply and an add, rounding once where the CPU rounds twice"


def kernel_examples() -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """Every CUDA kernel, for every dtype of values it codes, with example arguments."""
    import importlib

    def argument(spec: str, values: str) -> Any:
        if spec in ("int", "float"):
            return {"int": 1, "float": 1.0}[spec]
        dtype, dims = spec.split(":")
        return np.zeros((1,) * int(dims), np.dtype(values if dtype == "V" else dtype))

    for module_name, dtypes, kernels in KERNELS:
        module = importlib.import_module(module_name)
        for values in dtypes:
            for name, specs in kernels.items():
                arguments = tuple(argument(spec, values) for spec in specs.split())
                yield f"{module_name}.{name}[{values}]", getattr(module, name), arguments


def ptx() -> int:
    """Compile every kernel for compute capability 9.0; report registers where ptxas is."""
    import numba
    from numba import cuda
    from numba.cuda import dispatcher

    class Hopper:  # numba-cuda asks the device it compiles device functions for
        compute_capability = (9, 0)

    dispatcher.get_current_device = Hopper
    ptxas = _ptxas()
    failures = 0
    for name, kernel, arguments in kernel_examples():
        signature = tuple(numba.typeof(argument) for argument in arguments)
        try:
            code, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
        except Exception as error:  # a kernel that does not compile is what this reports
            failures += 1
            print(f"{name}: FAILED {type(error).__name__}: {error}")
            continue
        if FUSED in code:  # the CPU kernels round every product and sum on its own
            failures += 1
            print(f"{name}: FAILED: {FUSED_FAILURE}")
            continue
        print(f"{name}: {len(code.splitlines())} lines of PTX{_registers(ptxas, code)}")
    return 1 if failures else 0


def _ptxas() -> str | None:
    import shutil

    try:
        import nvidia.cuda_nvcc  # the CUDA toolkit wheel numba-cuda[cu12] installs

        candidate = Path(next(iter(nvidia.cuda_nvcc.__path__))) / "bin" / "ptxas"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("ptxas")


def _registers(ptxas: str | None, code: str) -> str:
    if ptxas is None:
        return ""
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as source:
        source.write(code)
        source.flush()
        report = subprocess.run(
            [ptxas, "-v", "--gpu-name", "sm_90", source.name, "-o", os.devnull],
            capture_output=True,
            text=True,
            check=False,
        ).stderr
    used = [line.split("Used", 1)[1].strip() for line in report.splitlines() if "Used" in line]
    return f", {used[0]}" if used else f", ptxas: {report.strip().splitlines()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptx", action="store_true", help="compile for sm_90, no GPU needed")
    parser.add_argument("--bench", action="store_true", help="the benchmarks only")
    parser.add_argument("--gib", type=float, default=1.0, help="GiB of codes per batch")
    parser.add_argument("--sides", type=int, nargs="+", default=[96, 256], help="frame sides")
    parser.add_argument("--gop", type=int, default=16, help="frames per GOP")
    parser.add_argument("--check", type=int, default=2, help="GOPs checked against the CPU")
    parser.add_argument("--grid-mib", type=float, default=256, help="MiB of float32 frames")
    parser.add_argument("--frames", type=int, default=2048, help="frames packed end to end")
    args = parser.parse_args()
    if args.ptx:
        sys.exit(ptx())
    failed = 0 if args.bench else test()
    bench(args)
    sys.exit(failed)


if __name__ == "__main__":
    main()
