"""Packing on a Dask cluster: GOPs encoded by workers, assembled in any order into one archive."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import tezip
from tezip.cli import cli
from tezip.errors import DependencyError, InputError, OptionError

distributed = pytest.importorskip("distributed")

from tezip.cluster import pack_on_cluster  # noqa: E402 - needs distributed


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two workers in this process (threads): what the tests need of a cluster, quickly."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    rng = np.random.default_rng(8)
    return (np.cumsum(rng.normal(0, 2, (45, 16, 12)), axis=0) + 300).astype(np.float32)


@pytest.mark.parametrize("options", [{"gop": 4}, {"gop": 5, "abs": 0.25, "level": 8}])
def test_the_cluster_writes_the_archive_pack_writes(
    client: Any, frames: np.ndarray, tmp_path: Path, options: dict[str, Any]
) -> None:
    np.save(tmp_path / "in.npy", frames)
    for data in (tmp_path / "in.npy", frames):  # read by the workers / sent block by block
        result = pack_on_cluster(data, tmp_path / "c.tez", client=client, overwrite=True, **options)
        tezip.pack(data, tmp_path / "p.tez", overwrite=True, **options)
        assert (tmp_path / "c.tez").read_bytes() == (tmp_path / "p.tez").read_bytes()
        assert result.gops == len(tezip.open(tmp_path / "c.tez").gops)


def test_automatic_gops_are_cut_at_block_edges_and_hold_the_bound(
    client: Any, frames: np.ndarray, tmp_path: Path
) -> None:
    pack_on_cluster(frames, tmp_path / "c.tez", client=client, rel=1e-3, gop="auto:4")
    with tezip.open(tmp_path / "c.tez") as archive:
        tolerance = archive.header.bound["resolved"]
        assert np.abs(archive[...] - frames).max() <= tolerance
        assert [gop.first for gop in archive.gops][:3] == [0, 4, 8]


def test_every_block_reports_progress(client: Any, frames: np.ndarray, tmp_path: Path) -> None:
    done: list[int] = []
    pack_on_cluster(frames, tmp_path / "c.tez", client=client, gop=4, progress=done.append)
    assert sum(done) == len(frames) and len(done) == 12


def test_a_learned_predictor_is_refused_before_the_input_is_read(
    client: Any, tmp_path: Path
) -> None:
    with pytest.raises(OptionError, match="classical predictors only"):
        pack_on_cluster(
            tmp_path / "missing.npy", tmp_path / "c.tez", client=client, predictor="tezip.prednet"
        )


def test_a_failing_worker_leaves_no_archive(client: Any, tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", np.zeros((9, 4, 4), np.uint8))
    source = tezip.io.open_source(tmp_path / "in.npy")
    (tmp_path / "in.npy").unlink()  # the workers cannot read it any more
    with pytest.raises(InputError, match=r"in\.npy: cannot read the file"):
        pack_on_cluster(source, tmp_path / "c.tez", client=client, gop=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_command_line_packs_on_a_scheduler(
    client: Any, frames: np.ndarray, tmp_path: Path
) -> None:
    np.save(tmp_path / "in.npy", frames)
    address = client.scheduler.address
    arguments = ["pack", str(tmp_path / "in.npy"), "-o", str(tmp_path / "a.tez"), "--gop", "4"]
    result = CliRunner().invoke(cli, [*arguments, "--scheduler", address])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(tezip.unpack(tmp_path / "a.tez"), frames)
    both = CliRunner().invoke(cli, [*arguments, "-f", "--scheduler", address, "--dask", "local"])
    assert both.exit_code == 2 and "not both" in both.output


def test_without_distributed_the_error_names_the_extra(
    frames: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DependencyError, match=r"needs distributed: pip install 'tezip\[dask\]'"):
        pack_on_cluster(frames, tmp_path / "c.tez", scheduler="local")


def test_dask_writes_a_zarr_store_with_the_codec_on_the_workers(
    client: Any, frames: np.ndarray, tmp_path: Path
) -> None:
    da = pytest.importorskip("dask.array")
    zarr = pytest.importorskip("zarr")
    from tezip.codecs.zarr import TezipCodec

    frames = frames[:40]  # whole chunks (Dask rechunks others, with a warning)
    store = zarr.create_array(
        tmp_path / "run.zarr",
        shape=frames.shape,
        chunks=(8, 16, 12),
        dtype=frames.dtype,
        serializer=TezipCodec(abs=0.25),
    )
    da.from_array(frames, chunks=(8, 16, 12)).to_zarr(store, compute=True)
    assert np.abs(zarr.open_array(tmp_path / "run.zarr")[:] - frames).max() <= 0.25
