"""Packing on a Dask cluster (``pip install 'tezip[dask]'``): blocks of GOPs are encoded as
tasks on ``dask.distributed`` workers, and the payloads are assembled into one ``.tez`` archive
in whatever order they finish. (A Zarr store coded by the workers needs no code of tezip's:
``dask.array`` writes one with the tezip codec, README "Zarr and numcodecs".)

The header and pipeline are built once, on the client (:func:`tezip.packing.prepare`, which
also reads the input's range when the bound needs it); each task rebuilds the pipeline from
the header (:meth:`~tezip.packing.Packer.from_header`) and encodes the GOPs of its block. An
input read from files (``.npy``, images, TIFF, HDF5, Zarr) is read by the workers themselves,
so they need the same path (a shared file system); an in-memory array is sent block by block.
Cuts between blocks start new GOPs: with ``gop=N`` a block is a whole number of GOPs and the
archive is the one ``tezip.pack`` writes.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tezip.api import PackResult
from tezip.container.gop import GopRecord
from tezip.container.header import header_from_record, pack_msgpack, unpack_msgpack
from tezip.container.writer import ArchiveWriter
from tezip.errors import HeaderError, OptionError
from tezip.extras import require
from tezip.io import ArraySource, FrameSource
from tezip.packing import Packer, PackInput, configure, prepare
from tezip.parallel import available, budget, check_threads

log = logging.getLogger(__name__)

#: GOPs per task: enough work to hide the task overhead, few enough to spread the input
GOPS_PER_TASK = 4
#: tasks in flight per worker thread: keeps workers busy and the client's memory bounded
TASKS_PER_THREAD = 2
#: Dask starts worker processes with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc
#: give back and fault in the large temporaries of every GOP: encoding takes twice as long.
#: tezip's own clusters leave glibc's adaptive default (set it so on a real cluster too).
GLIBC_MALLOC = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
#: a coded GOP as it comes back from a worker: first frame, frame count, GOPD payload
Payload = tuple[int, int, bytes]


def _distributed() -> Any:
    return require("distributed", "dask", "packing on a Dask cluster")


@functools.lru_cache(maxsize=4)
def _worker_packer(header: bytes, encoding: bytes) -> Packer:
    """The packer a worker process builds once per archive, from the encoded header and
    the pickled :class:`~tezip.pipeline.Encoding`."""
    record = unpack_msgpack(header, "header", HeaderError)
    return Packer.from_header(header_from_record(record), pickle.loads(encoding))


def encode_block(
    header: bytes, encoding: bytes, source: bytes, start: int, stop: int, shift: int
) -> list[Payload]:
    """The task: every GOP of frames ``start:stop`` of ``source`` (pickled, so that a source
    the worker cannot open fails here, with its own message), numbered from ``shift``;
    ``header`` is the archive's header as msgpack."""
    packer = _worker_packer(header, encoding)
    frames: FrameSource = pickle.loads(source)
    coded: list[Payload] = []
    with budget(1):  # a Dask worker thread: its task starts no pool of its own
        for first, group in packer.groups(frames, start, stop):
            record: GopRecord = packer.encode(shift + first, group)
            coded.append((record.first, record.count, record.encode()))
    return coded


def blocks(source: FrameSource, packer: Packer, threads: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each task's frames: whole longest GOPs, up to
    :data:`GOPS_PER_TASK` of them, fewer where that gives each of ``threads`` a task."""
    gop = packer.policy.frames_per_gop(packer.header.frame_bytes)
    gops = -(-len(source) // gop)
    length = gop * max(1, min(GOPS_PER_TASK, gops // max(1, threads)))
    for start in range(0, len(source), length):
        yield start, min(start + length, len(source))


def _task_input(source: FrameSource, start: int, stop: int) -> tuple[bytes, int, int, int]:
    """What a task reads, pickled: the source itself when workers can open it (it has a
    path), else the block's frames, sent along."""
    if hasattr(source, "path"):
        return pickle.dumps(source), start, stop, 0
    return pickle.dumps(ArraySource(source.read(start, stop))), 0, stop - start, start


@contextmanager
def client_for(scheduler: str | None, threads: int | None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler`` (``tcp://host:8786``), or of a
    ``LocalCluster`` of ``threads`` single-threaded processes (the thread budget of
    :mod:`tezip.parallel` by default) for ``None`` or ``"local"``."""
    distributed = _distributed()
    if scheduler not in (None, "local"):
        with distributed.Client(scheduler) as client:
            yield client
        return
    count = check_threads(threads) or available()
    with (
        require("dask", "dask", "packing on a Dask cluster").config.set(GLIBC_MALLOC),
        distributed.LocalCluster(
            n_workers=count, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def pack_on_cluster(
    data: PackInput,
    path: str | os.PathLike[str],
    *,
    client: Any = None,
    scheduler: str | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> PackResult:
    """``tezip.pack`` on a Dask cluster: ``data`` into the archive ``path`` with ``pack``'s
    ``options``, GOPs encoded by the workers of ``client`` (a ``distributed.Client``), or
    of a client of ``scheduler`` (:func:`client_for`: an address, or ``"local"`` for a
    ``LocalCluster`` of ``threads`` processes). Learned predictors (which would need their
    model on every worker), neither point-wise nor screened, are refused."""
    if client is None:
        with client_for(scheduler, threads) as own:
            return pack_on_cluster(
                data, path, client=own, overwrite=overwrite, progress=progress, **options
            )
    settings = configure(**options)
    if any(not (p.pointwise or p.screened) for p in settings.predictors):
        raise OptionError(
            "packing on a cluster takes tezip's classical predictors only, no learned ones",
            "predictor",
        )
    packer, source = prepare(data, settings)
    header = pack_msgpack(packer.header.to_record())
    encoding = pickle.dumps(packer.pipeline.encoding)
    threads = max(1, sum(client.nthreads().values()))
    window = TASKS_PER_THREAD * threads
    pending = iter(blocks(source, packer, threads))
    futures = _distributed().as_completed()

    def submit() -> None:
        block = next(pending, None)
        if block is not None:
            task = _task_input(source, *block)
            futures.add(client.submit(encode_block, header, encoding, *task, pure=False))

    log.info(
        "packing %d frames on %d worker threads, %d tasks at a time",
        len(source),
        threads,
        window,
    )
    for _ in range(window):
        submit()
    gops = 0
    with ArchiveWriter(path, packer.header, overwrite=overwrite) as writer:
        for future in futures:
            coded = future.result()
            log.debug("task done: %d GOPs from frame %d", len(coded), coded[0][0])
            for first, count, payload in coded:
                writer.add_gop(first, count, payload)
                gops += 1
                if progress:
                    progress(count)
            submit()
    size = Path(path).stat().st_size
    return PackResult(Path(path), len(source), gops, packer.header.frame_bytes * len(source), size)
