"""Outputs that appear only when complete, never replace what they must not, leave no debris.

The ``.tez`` writer and the unpack sinks write into a hidden temporary sibling of their target,
named ``.NAME.tezip-HOST-PID-TOKEN.part`` (``.tmp`` for unpack outputs): ``HOST`` tags the
machine, ``PID`` the writing process. A process that dies without cleaning up (``SIGKILL``,
power loss) leaves such a file behind; :func:`remove_stale` removes those whose process no
longer runs on this machine, and every writer calls it on the folder it writes into.
Files are created with mode ``0o666`` less the umask, like any other output.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from pathlib import Path
from typing import BinaryIO

#: a tag of this machine: a process id names a process only on the machine that runs it
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY = re.compile(
    r"\..+\.tezip-(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{8}\.(part|tmp)"
)
#: errors of ``os.link`` on file systems without hard links (FAT, some network shares)
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


def temporary_path(target: Path, suffix: str) -> Path:
    """A fresh hidden sibling of ``target`` (same file system, so renaming it is atomic)."""
    token = secrets.token_hex(4)
    return target.with_name(f".{target.name}.tezip-{HOST}-{os.getpid()}-{token}{suffix}")


def create_file(path: Path) -> BinaryIO:
    """Create ``path`` exclusively for writing, with the permissions the umask gives."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no process has such an id
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: Path) -> None:
    """Remove tezip's temporary files and folders in ``folder`` whose writer has died."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # the writer reports an unusable folder itself
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or match["host"] != HOST or _running(int(match["pid"])):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Give the finished file ``temporary`` the name ``target``, atomically.

    With ``overwrite`` an existing target is replaced; without, ``FileExistsError`` is raised
    if anything exists at ``target``, however recently it appeared (the check and the creation
    are one step: a hard link, or an exclusive creation where the file system has no links).
    """
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        _claim_and_replace(temporary, target)
    else:
        temporary.unlink()


def _claim_and_replace(temporary: Path, target: Path) -> None:
    """``publish`` without hard links: claim the name exclusively, then rename onto it."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        os.replace(temporary, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
