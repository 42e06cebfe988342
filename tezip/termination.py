"""``SIGTERM`` and ``SIGHUP`` end the command line like ``Ctrl-C``: cleanup runs first.

By default these signals end a process on the spot, leaving the temporary file of an archive
or output being written behind. Inside :func:`clean_termination` they raise
:class:`Terminated` instead, so the writers' context managers remove what they wrote; the
process then ends by the same signal, as whoever sent it expects.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: the signals that ask a process to end (``SIGHUP``: its terminal closed), where they exist
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(BaseException):
    """A termination signal arrived (a ``BaseException``, like ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    for each in SIGNALS:  # a second signal must not interrupt the cleanup
        signal.signal(each, signal.SIG_IGN)
    raise Terminated(signum)


@contextmanager
def clean_termination() -> Iterator[None]:
    """Turn termination signals into :class:`Terminated` within the block (main thread)."""
    previous = {each: signal.signal(each, _raise) for each in SIGNALS}
    try:
        yield
    except Terminated as stop:
        signal.signal(stop.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stop.signum)
        raise  # only where the signal does not end the process
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
