"""Failures leave nothing behind and replace nothing they must not (archives and outputs).

A full disk is simulated by a file-size limit (``RLIMIT_FSIZE``) in a subprocess; interruption
by sending a signal to a ``tezip`` process held at a known point of its work. Temporary files
carry their writer's process id, so that a later run removes those of processes that died.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tezip
import tezip.archive
from tezip.atomic import HOST, publish
from tezip.cli import cli
from tezip.container.reader import ArchiveFile
from tezip.container.writer import ArchiveWriter
from tezip.errors import InputError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

#: runs the command line in a child: ``LIMIT`` caps file sizes, ``HOLD`` stops the work after
#: its first group of frames (packing) or first output write (unpacking) until a signal comes
CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys, time

    limit, hold = int(os.environ["LIMIT"]), os.environ["HOLD"]
    if limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    def held(real):
        def generator(*args, **kwargs):
            yield next(real(*args, **kwargs))
            print("holding", flush=True)  # asked for the next item: the first is written
            time.sleep(600)
        return generator

    import tezip.api, tezip.archive
    if hold == "pack":
        tezip.api.ordered_map = held(tezip.api.ordered_map)
    elif hold == "unpack":
        tezip.archive.Archive.iter_gops = held(tezip.archive.Archive.iter_gops)
    from tezip.cli import main
    sys.argv = ["tezip", *sys.argv[1:]]
    main()
    """
)


def tezip_child(*args: str, limit: int = 0, hold: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, "LIMIT": str(limit), "HOLD": hold}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def dead_pid() -> int:
    """The id of a process that has ended."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """Frames in several GOPs, noisy enough to make an archive of some 100 KiB."""
    rng = np.random.default_rng(7)
    path = tmp_path / "stack.npy"
    np.save(path, rng.integers(0, 256, (8, 96, 128), dtype=np.uint8))
    return path


def test_disk_full_at_the_final_flush_leaves_no_partial_archive(
    stack: Path, tmp_path: Path
) -> None:
    """The commit once raised past the cleanup: ``.a.tez.*.part`` stayed behind."""
    reference = tmp_path / "reference.tez"
    tezip.pack(stack, reference, gop=4, threads=1)
    size = reference.stat().st_size
    options = ("-o", str(tmp_path / "a.tez"), "--gop", "4", "--threads", "1")
    child = tezip_child("pack", str(stack), *options, limit=size - 1)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    assert "File too large" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert listing(tmp_path) == ["reference.tez", "stack.npy"]


def test_disk_full_while_unpacking_leaves_no_partial_output(stack: Path, tmp_path: Path) -> None:
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive, gop=4)
    output_bytes = np.load(stack).nbytes
    child = tezip_child("unpack", str(archive), "-o", str(tmp_path / "out.npy"), limit=output_bytes)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    assert "File too large" in err and "Traceback" not in err
    assert listing(tmp_path) == ["a.tez", "stack.npy"]


@pytest.mark.parametrize(
    ("command", "signum", "status"),
    [
        ("pack", signal.SIGTERM, -signal.SIGTERM),
        ("unpack", signal.SIGTERM, -signal.SIGTERM),
        ("pack", signal.SIGHUP, -signal.SIGHUP),
        ("unpack", signal.SIGINT, 1),  # click: "Aborted!"
    ],
)
def test_termination_signals_leave_nothing_behind(
    stack: Path, tmp_path: Path, command: str, signum: int, status: int
) -> None:
    """SIGTERM once ended the process on the spot, leaving its temporary file."""
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive, gop=2)
    before = listing(tmp_path)
    target = tmp_path / ("b.tez" if command == "pack" else "out.npy")
    source = stack if command == "pack" else archive
    child = tezip_child(command, str(source), "-o", str(target), "--threads", "1", hold=command)
    assert child.stdout is not None
    assert child.stdout.readline() == "holding\n"
    assert len(listing(tmp_path)) == len(before) + 1  # the temporary file being written
    child.send_signal(signum)
    _, err = child.communicate(timeout=120)
    assert child.returncode == status, err
    assert "Traceback" not in err
    assert listing(tmp_path) == before


def test_two_writers_cannot_both_create_an_archive(tmp_path: Path) -> None:
    """The existence check once preceded a replacing rename: the later pack silently won."""
    tezip.pack(np.zeros((2, 4, 4), np.uint8), tmp_path / "model.tez")
    path = tmp_path / "a.tez"
    with tezip.open(tmp_path / "model.tez") as model:
        writers = [ArchiveWriter(path, model.header) for _ in range(2)]  # both pass the check
        for writer, note in zip(writers, (b"first", b"second"), strict=True):
            writer.add_section(b"noTE", note)
            for entry in model.gops:
                writer.add_gop(entry.first, entry.count, bytes(model.file.payload(entry.section)))
    writers[0].commit()
    with pytest.raises(InputError) as excinfo:
        writers[1].commit()
    assert "appeared" in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert b"first" in path.read_bytes() and b"second" not in path.read_bytes()
    assert listing(tmp_path) == ["a.tez", "model.tez"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_archives_honour_the_umask(tmp_path: Path, umask: int) -> None:
    """Archives were created with mode 0600 (``mkstemp``) whatever the umask."""
    old = os.umask(umask)
    try:
        tezip.pack(np.zeros((1, 2, 2), np.uint8), tmp_path / "a.tez")
    finally:
        os.umask(old)
    assert (tmp_path / "a.tez").stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    pid = dead_pid()
    stale = [
        tmp_path / f".a.tez.tezip-{HOST}-{pid}-0123abcd.part",
        tmp_path / f".out.npy.tezip-{HOST}-{pid}-89abcdef.tmp",
        tmp_path / f".b.tez.tezip-{HOST}-9999999999-01234567.part",  # beyond any process id
    ]
    (tmp_path / f".frames.tezip-{HOST}-{pid}-00000000.tmp").mkdir()  # an image folder
    kept = [
        tmp_path / f".a.tez.tezip-{HOST}-{os.getpid()}-0123abcd.part",  # its writer runs
        tmp_path / f".a.tez.tezip-{'f' * 8 if HOST != 'f' * 8 else 'e' * 8}-{pid}-01234567.part",
        tmp_path / ".a.tez.abc123.part",  # not named by tezip's scheme
        tmp_path / "notes.txt",
    ]
    for path in stale + kept:
        path.write_bytes(b"x")
    tezip.pack(np.zeros((1, 2, 2), np.uint8), tmp_path / "b.tez")
    assert listing(tmp_path) == sorted(["b.tez", *(path.name for path in kept)])


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP])
def test_exclusive_publication_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """File systems without hard links (FAT, some shares) still never replace a file."""

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_link)
    for name in ("new", "old"):
        (tmp_path / f"{name}.part").write_bytes(b"fresh")
    (tmp_path / "old").write_bytes(b"kept")
    publish(tmp_path / "new.part", tmp_path / "new", overwrite=False)
    with pytest.raises(FileExistsError):
        publish(tmp_path / "old.part", tmp_path / "old", overwrite=False)
    assert (tmp_path / "new").read_bytes() == b"fresh" and (
        tmp_path / "old"
    ).read_bytes() == b"kept"
    assert listing(tmp_path) == ["new", "old", "old.part"]


def test_running_out_of_memory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid archive may hold frames larger than the memory at hand: a message, no
    traceback, and no partial output."""
    tezip.pack(np.zeros((2, 4, 4), np.uint8), tmp_path / "a.tez")

    def exhausted(self: object, number: int) -> np.ndarray:
        raise MemoryError

    monkeypatch.setattr(tezip.archive.Archive, "_decode", exhausted)
    result = CliRunner().invoke(
        cli, ["unpack", str(tmp_path / "a.tez"), "-o", str(tmp_path / "out.npy")]
    )
    assert result.exit_code == 1 and result.output == "Error: not enough memory for these frames\n"
    assert listing(tmp_path) == ["a.tez"]


@pytest.mark.parametrize("output", ["out.tif", "out.h5"])
def test_a_failed_unpack_to_a_library_written_file_leaves_nothing(
    stack: Path, tmp_path: Path, output: str
) -> None:
    """TIFF stacks and HDF5 files are written by their libraries; a damaged second group of
    frames must still remove the half-written file."""
    pytest.importorskip("tifffile" if output.endswith(".tif") else "h5py")
    archive = tmp_path / "a.tez"
    tezip.pack(stack, archive, gop=4)
    gops = ArchiveFile(archive).gops
    assert len(gops) == 2
    damaged_at = gops[1].section.offset + gops[1].section.length // 2
    data = bytearray(archive.read_bytes())
    data[damaged_at] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["unpack", str(archive), "-o", str(tmp_path / output)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert listing(tmp_path) == ["a.tez", "stack.npy"]
