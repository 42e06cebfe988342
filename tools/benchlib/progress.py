"""A dependency-free progress bar on stderr (one line per step when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.start = time.monotonic()
        self.tty = stream.isatty()

    def step(self, label: str) -> None:
        """Announce the step about to run."""
        elapsed = time.monotonic() - self.start
        left = (
            f" ~{_clock(elapsed / self.done * (self.total - self.done))} left" if self.done else ""
        )
        bar = "#" * (WIDTH * self.done // max(1, self.total))
        line = f"[{bar:<{WIDTH}}] {self.done}/{self.total} {_clock(elapsed)}{left}  {label}"
        self.stream.write(f"\r{line[:119]:<119}" if self.tty else line + "\n")
        self.stream.flush()
        self.done += 1

    def close(self) -> None:
        if self.tty:
            self.stream.write(f"\r{'':<119}\r")
        self.stream.write(f"{self.done} runs in {_clock(time.monotonic() - self.start)}\n")
        self.stream.flush()
