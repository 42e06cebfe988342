"""``tezip.rans`` on CUDA: the twins give the CPU kernels' bytes and values, byte for byte.

Without a GPU the kernels run in numba's CUDA simulator (``tests/conftest.py``), which runs
Python per thread, so the arrays stay tiny; partitions of a few rows give them several
partitions each. With ``NUMBA_ENABLE_CUDASIM=0`` on a machine with a GPU
(``tools/gpu_check.py``) the same tests run the compiled kernels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from residuals import force_octiles, force_predictor, residual_arrays

import tezip
from tezip import device
from tezip.abc import RunContext
from tezip.cli import cli
from tezip.devicetwins import simulated
from tezip.errors import StreamError
from tezip_rans import elements, kernels, stream
from tezip_rans import stage as rans_stage
from tezip_rans.field import field_dtype, planes_of, to_field
from tezip_rans.stage import EFFORTS, RansStage

pytestmark = pytest.mark.skipif(
    not (simulated() or device.sees_gpu("numba-cuda")), reason="needs numba's CUDA target"
)


@pytest.fixture
def short_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partitions of three rows (the format allows any height; tiny arrays get several)."""
    monkeypatch.setattr(rans_stage, "partition_rows", lambda shape: min(3, shape[2]))


def on(where: str, effort: int = 2) -> RansStage:
    stage = RansStage(effort)
    stage.device = where
    return stage


def outcome(where: str, data: bytes, array: np.ndarray) -> np.ndarray | str:
    """What decoding ``data`` on a device gives: the array, or the error's message."""
    try:
        return on(where).decode(data, array.shape, array.dtype)
    except StreamError as error:
        return str(error)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(residual_arrays(frames=3, side=8))
def test_the_twins_code_and_decode_byte_for_byte(short_partitions: None, array: np.ndarray) -> None:
    data = on("cpu").encode(array)
    assert on("cuda").encode(array) == data
    np.testing.assert_array_equal(on("cuda").decode(data, array.shape, array.dtype), array)


@pytest.mark.parametrize("effort", EFFORTS)
def test_every_effort_codes_the_same_bytes_on_both_devices(
    short_partitions: None, effort: int
) -> None:
    """The exhaustive effort chooses among full drafts on the CPU, then codes on the GPU."""
    rng = np.random.default_rng(effort)
    array = np.cumsum(rng.integers(0, 3, (3, 6, 7)), axis=2) + rng.integers(0, 9, (3, 6, 7))
    array = array.astype(np.uint16)
    assert on("cuda", effort).encode(array) == on("cpu", effort).encode(array)


@pytest.mark.parametrize("mode", elements.PREDICTORS)
def test_every_spatial_predictor_codes_and_decodes_alike(
    short_partitions: None, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each predictor forced on every plane of a colour GOP (the fitted one with weights of
    every sign), so that the twins' predictions and their west-west neighbours are proven
    element for element."""
    weights = [23, -5, 9, -14] if mode == elements.FITTED else [0] * 4
    force_predictor(monkeypatch, mode, weights)
    rng = np.random.default_rng(mode)
    array = (np.cumsum(rng.integers(-3, 9, (2, 6, 7, 3)), axis=2) % 4096).astype(np.uint16)
    data = on("cpu").encode(array)
    assert stream.read(data, array.shape, 16).choices.parameters[:, 0].tolist() == [mode] * 3
    assert on("cuda").encode(array) == data
    np.testing.assert_array_equal(on("cuda").decode(data, array.shape, array.dtype), array)


@pytest.mark.parametrize("mode", [elements.MED, elements.FITTED])
def test_intensity_classes_code_and_decode_alike(
    short_partitions: None, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intensity classes forced on every plane of a colour GOP (bounds inside and beside its
    values), so that the twins' classes and context numbers are proven element for
    element."""
    weights = [23, -5, 9, -14] if mode == elements.FITTED else [0] * 4
    force_predictor(monkeypatch, mode, weights, [-9, 40, 200, 1500, 3000])
    rng = np.random.default_rng(mode)
    array = (np.cumsum(rng.integers(-3, 90, (2, 6, 7, 3)), axis=2) % 4096).astype(np.uint16)
    data = on("cpu").encode(array)
    parameters = stream.read(data, array.shape, 16).choices.parameters
    assert parameters[:, elements.CLASSES].tolist() == [6] * 3
    assert on("cuda").encode(array) == data
    np.testing.assert_array_equal(on("cuda").decode(data, array.shape, array.dtype), array)


def test_the_gpu_weighs_intensity_classes_on_its_own_statistics(
    short_partitions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOPs whose forms are weighed: the GPU counts the finest form's tokens, the host
    weighs the forms on that histogram (no statistics pass on the CPU), and the GOPs are
    coded in the form the CPU chooses, coarser ones through the regrouped contexts' tables."""
    force_octiles(monkeypatch)
    rng = np.random.default_rng(5)
    gops = [
        rng.poisson(rng.uniform(2, 900, (1, 7, 1, 1)), (2, 7, 5, 2)).astype(np.uint16)
        for _ in range(2)
    ]
    counted: list[int] = []
    analysed = kernels.analysed
    monkeypatch.setattr(kernels, "analysed", lambda *a, **k: counted.append(1) or analysed(*a, **k))
    gpu = on("cuda").encode_batch(gops)
    assert not counted  # the CPU never ran the statistics pass for the GPU
    assert [len(rans_stage.prepare(gop, 2).forms) for gop in gops] == [3, 3]
    assert gpu == [on("cpu").encode(gop) for gop in gops]
    read = [stream.read(data, gop.shape, 16) for data, gop in zip(gpu, gops, strict=True)]
    classes = [parsed.choices.parameters[:, elements.CLASSES] for parsed in read]
    assert any((c < 8).all() for c in classes)  # a coarser form: regrouped contexts


def test_a_batch_of_gops_with_different_intensity_classes_codes_as_the_cpu_does(
    short_partitions: None,
) -> None:
    """GOPs of one launch with one, three and eight classes: context maps of three sizes."""
    from tezip_rans import cudacoder, model

    rng = np.random.default_rng(11)
    gops = [rng.integers(0, 900, (2, 7, 5), dtype=np.uint16) for _ in range(3)]
    coded = [rans_stage.prepare(gop, 2) for gop in gops]
    parameters = np.stack([gop.choices.parameters for gop in coded])
    splits = ([], [100, 500], [50, 100, 200, 300, 400, 600, 800])
    for row, bounds in zip(parameters[:, 0], splits, strict=True):
        kernels.split_at(row, bounds)
    parameters = np.stack([kernels.placed(rows) for rows in parameters])
    fields = np.stack([gop.field for gop in coded])
    rows = coded[0].rows
    streams = []
    for gop, field, knobs, (mapping, frequencies, partitions) in zip(
        coded, fields, parameters, cudacoder.code(fields, parameters, rows), strict=True
    ):
        found = kernels.analysed(field, knobs, rows)
        mapping_made, frequencies_made = model.tables(found.histogram)
        coded_made = rans_stage._encoded(found, mapping_made, frequencies_made)
        expected = (mapping_made, frequencies_made, coded_made)
        width = expected[1].shape[1]  # the CPU counts the tokens its errors can take
        np.testing.assert_array_equal(mapping, expected[0])
        np.testing.assert_array_equal(frequencies[:, :width], expected[1])
        assert not frequencies[:, width:].any()
        assert partitions == expected[2]
        choices = replace(gop.choices, parameters=knobs)
        streams.append(replace(gop, choices=choices).written(*expected))
    # and one decoding launch, each GOP's keyed tables as wide as its own classes need
    parsed = [stream.read(data, gops[0].shape, 16) for data in streams]
    shape = fields.shape[1:]
    decoded, statuses = cudacoder.decode(cudacoder.upload(streams, parsed), shape, fields.dtype)
    assert not statuses.any()
    np.testing.assert_array_equal(decoded.copy_to_host(), fields)


def test_a_batch_of_gops_is_one_launch(short_partitions: None) -> None:
    """GOPs of one shape share the launches; each gets its own tables and stream."""
    from tezip_rans import cudacoder

    rng = np.random.default_rng(7)
    gops = [
        rng.laplace(0, scale, (2, 7, 5)).astype(np.int64).astype(np.uint16) for scale in (1, 9, 300)
    ]
    streams = [on("cpu").encode(gop) for gop in gops]
    parsed = [stream.read(data, gops[0].shape, 16) for data in streams]
    shape = (2, planes_of(gops[0].shape, 16), 7, 5)
    fields, statuses = cudacoder.decode(cudacoder.upload(streams, parsed), shape, field_dtype(16))
    assert not statuses.any()
    for gop, values, coded in zip(gops, fields.copy_to_host(), parsed, strict=True):
        choices = coded.choices
        np.testing.assert_array_equal(
            values, to_field(gop, choices.offset_binary, choices.relative)
        )
    parameters = np.stack([p.choices.parameters for p in parsed])
    fields = np.stack(
        [
            to_field(g, p.choices.offset_binary, p.choices.relative)
            for g, p in zip(gops, parsed, strict=True)
        ]
    )
    for (mapping, frequencies, partitions), coded, data in zip(
        cudacoder.code(fields, parameters, parsed[0].rows), parsed, streams, strict=True
    ):
        np.testing.assert_array_equal(mapping.reshape(coded.clusters.shape), coded.clusters)
        np.testing.assert_array_equal(frequencies, coded.frequencies[:, : frequencies.shape[1]])
        assert b"".join(a + b for a, b in partitions) == data[coded.rans[0][0] :]


def test_damaged_streams_fail_alike(short_partitions: None) -> None:
    """A damaged partition gives the CPU decoder's error (the same partition and reason), or,
    where the damage goes unnoticed, the CPU decoder's values."""
    rng = np.random.default_rng(4)
    array = (np.cumsum(rng.integers(-3, 4, (2, 8, 6)), axis=2) + 500).astype(np.uint16)
    data = on("cpu").encode(array)
    body = stream.read(data, array.shape, 16).rans[0][0]
    for _ in range(16):
        damaged = bytearray(data)
        damaged[rng.integers(body, len(data))] ^= 1 << rng.integers(0, 8)
        expected = outcome("cpu", bytes(damaged), array)
        found = outcome("cuda", bytes(damaged), array)
        if isinstance(expected, str):
            assert found == expected
        else:
            np.testing.assert_array_equal(found, expected)


def test_every_failure_is_found_in_the_same_partition(short_partitions: None) -> None:
    """Partitions whose streams end early or late fail with the CPU kernel's status."""
    from tezip_rans import cudacoder

    rng = np.random.default_rng(5)
    array = rng.laplace(0, 40, (2, 9, 6)).astype(np.int64).astype(np.uint16)
    data = on("cpu").encode(array)
    parsed = stream.read(data, array.shape, 16)
    shape = (2, 1, 9, 6)
    statuses = set()
    for band in range(len(parsed.rans)):
        for spans, side, step in (("rans", 1, -2), ("rans", 1, 2), ("raw", 1, -1), ("raw", 1, 1)):
            edited = [list(span) for span in getattr(parsed, spans)]
            edited[band][side] += step
            damaged = replace(parsed, **{spans: [tuple(span) for span in edited]})
            status, where = rans_stage._decode(data, damaged, np.empty(shape, np.int32))
            uploaded = cudacoder.upload([data], [damaged])
            _, found = cudacoder.decode(uploaded, shape, np.dtype(np.int32))
            failed = np.flatnonzero(found[0])
            assert (status, where) == ((found[0, failed[0]], failed[0]) if failed.size else (0, 0))
            statuses.add(status)
    assert statuses >= {kernels.RANS_EXHAUSTED, kernels.BITS_EXHAUSTED, kernels.TRAILING_BYTES}


def test_auto_and_cuda_code_on_a_gpu_that_numba_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    def sees(*libraries: str) -> None:
        monkeypatch.setattr(
            device,
            "DETECTORS",
            {name: (lambda n=name: n in libraries) for name in device.DETECTORS},
        )
        device.sees_gpu.cache_clear()

    stage = RansStage()
    try:
        sees("numba-cuda")
        for wanted, chosen in (("auto", "cuda"), ("cuda", "cuda"), ("cpu", "cpu")):
            stage.bind(RunContext(wanted))
            assert stage.device == chosen
        sees("torch")  # a GPU for the predictors, none for numba: the coder stays on the CPU
        stage.bind(RunContext("cuda"))
        assert stage.device == "cpu"
    finally:
        device.sees_gpu.cache_clear()


def test_an_archive_packed_on_cuda_is_the_cpu_archive(
    short_partitions: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(device.DETECTORS, "numba-cuda", lambda: True)
    device.sees_gpu.cache_clear()
    try:
        data = (np.arange(3 * 7 * 5).reshape(3, 7, 5) % 11).astype(np.uint8)
        tezip.pack(data, tmp_path / "gpu.tez", device="cuda", gop=3)
        tezip.pack(data, tmp_path / "cpu.tez", device="cpu", gop=3)
        assert (tmp_path / "gpu.tez").read_bytes() == (tmp_path / "cpu.tez").read_bytes()
        np.testing.assert_array_equal(tezip.unpack(tmp_path / "cpu.tez", device="cuda"), data)
    finally:
        device.sees_gpu.cache_clear()


def test_auto_says_it_coded_on_the_gpu(
    short_partitions: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(device.DETECTORS, "numba-cuda", lambda: True)
    device.sees_gpu.cache_clear()
    try:
        np.save(tmp_path / "f.npy", np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5))
        archive = str(tmp_path / "a.tez")
        for command in (
            ["pack", str(tmp_path / "f.npy"), "-o", archive],
            ["unpack", archive, "-o", str(tmp_path / "out.npy")],
        ):
            result = CliRunner().invoke(cli, command)
            assert "--device auto: ran on cuda" in result.output, result.output
    finally:
        device.sees_gpu.cache_clear()


def test_plugins_lists_the_stages_with_a_gpu_twin() -> None:
    import json

    listing = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    assert listing["stages"]["tezip.rans"]["devices"] == ["cpu", "cuda"]
    assert listing["stages"]["tezip.zstd"]["devices"] == ["cpu"]
    assert "devices: cpu, cuda" in CliRunner().invoke(cli, ["plugins"]).output


@pytest.mark.gpu
@pytest.mark.skipif(
    simulated() or not device.sees_gpu("CuPy"), reason="needs CuPy and a CUDA device"
)
def test_cupy_fields_are_coded_where_they_are() -> None:
    """Fields already on the device (CuPy) are coded without a copy to the host, and decode
    into device arrays CuPy takes as they are."""
    import cupy

    from tezip_rans import cudacoder

    rng = np.random.default_rng(8)
    gops = rng.laplace(0, 4, (3, 4, 70, 30)).astype(np.int64).astype(np.uint8)
    batch = [rans_stage.prepare(gop, 2) for gop in gops]
    fields = cupy.asarray(np.stack([gop.field for gop in batch]))
    parameters = np.stack([gop.choices.parameters for gop in batch])
    coded = cudacoder.code(fields, parameters, batch[0].rows)
    streams = [gop.written(*result) for gop, result in zip(batch, coded, strict=True)]
    assert streams == [on("cpu").encode(gop) for gop in gops]
    parsed = [stream.read(data, gops.shape[1:], 8) for data in streams]
    uploaded = cudacoder.upload(streams, parsed)
    values, statuses = cudacoder.decode(uploaded, fields.shape[1:], field_dtype(8))
    assert not statuses.any() and bool(cupy.array_equal(cupy.asarray(values), fields))


def test_a_batch_with_a_damaged_stream_fails_as_that_stream_does_alone(
    short_partitions: None,
) -> None:
    """Streams decoded in one batch give each stream's values, and the batch fails with the
    first damaged stream's own error, on both devices."""
    rng = np.random.default_rng(9)
    arrays = [rng.laplace(0, 30, (2, 8, 6)).astype(np.int64).astype(np.uint16) for _ in range(3)]
    streams = [on("cpu").encode(array) for array in arrays]
    batch = [(data, array.shape, array.dtype) for data, array in zip(streams, arrays, strict=True)]
    for where in ("cpu", "cuda"):
        for values, array in zip(on(where).decode_batch(batch), arrays, strict=True):
            np.testing.assert_array_equal(values, array)
    body = stream.read(streams[1], arrays[1].shape, 16).rans[0][0]
    for _ in range(12):
        damaged = bytearray(streams[1])
        damaged[rng.integers(body, len(damaged))] ^= 1 << rng.integers(0, 8)
        alone = outcome("cpu", bytes(damaged), arrays[1])
        if not isinstance(alone, str):
            continue  # the damage went unnoticed by the coder (the frame checksums catch it)
        for where in ("cpu", "cuda"):
            with pytest.raises(StreamError) as failed:
                on(where).decode_batch([batch[0], (bytes(damaged), *batch[1][1:]), batch[2]])
            assert str(failed.value) == alone


def test_an_archive_coded_in_gpu_batches_is_the_cpu_archive(
    short_partitions: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Packed and unpacked on a GPU, the GOPs of a batch share launches, byte for byte."""
    from tezip_rans import cudacoder

    monkeypatch.setitem(device.DETECTORS, "numba-cuda", lambda: True)
    launches = []
    code, decode = cudacoder.code, cudacoder.decode

    def counted(function: Any, name: str) -> Any:
        def run(*args: Any) -> Any:
            launches.append((name, len(args[0]) if name == "code" else args[0].count))
            return function(*args)

        return run

    monkeypatch.setattr(cudacoder, "code", counted(code, "code"))
    monkeypatch.setattr(cudacoder, "decode", counted(decode, "decode"))
    device.sees_gpu.cache_clear()
    try:
        rng = np.random.default_rng(12)
        data = np.cumsum(rng.integers(0, 3, (11, 7, 5)), axis=0).astype(np.uint8)
        tezip.pack(data, tmp_path / "gpu.tez", device="cuda", gop=4, abs=1)
        tezip.pack(data, tmp_path / "cpu.tez", device="cpu", gop=4, abs=1)
        assert (tmp_path / "gpu.tez").read_bytes() == (tmp_path / "cpu.tez").read_bytes()
        np.testing.assert_array_equal(
            tezip.unpack(tmp_path / "cpu.tez", device="cuda"), tezip.unpack(tmp_path / "cpu.tez")
        )
    finally:
        device.sees_gpu.cache_clear()
    # one launch per field shape: the two GOPs of four frames share one, the last its own
    assert ("code", 2) in launches and ("decode", 2) in launches
