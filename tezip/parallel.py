"""One thread budget for everything tezip runs in parallel (``--threads``/``-T``, ``threads=``).

A pool takes its threads from :func:`available`: the budget set by the innermost
:func:`budget` block of the calling thread, else every core this process may use. Work
running in a pool's thread gets the budget divided by the pool's size, so pools inside
pools never exceed it: GOPs encoded on all threads do not each start a pool of their own (an
entropy stage's, PyTorch's), while one large GOP alone keeps the whole budget for its stages.
NumPy, zstd, image codecs and numba kernels release the GIL, so threads give real
parallelism.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from tezip.errors import OptionError

T = TypeVar("T")
R = TypeVar("R")

_BUDGET: ContextVar[int | None] = ContextVar("tezip_thread_budget", default=None)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a cluster job's share)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def available() -> int:
    """The threads the calling code may use."""
    threads = _BUDGET.get()
    return cores() if threads is None else threads


def check_threads(threads: int | None) -> int | None:
    """``threads`` as given to the API: ``None`` (all cores) or a positive int."""
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise OptionError(f"threads must be a positive integer, not {threads!r}", "threads")
    return threads


@contextmanager
def budget(threads: int | None) -> Iterator[int]:
    """Run the block with a budget of ``threads`` (``None``: keep the current one); yields the
    budget in effect. Not for use across a generator's ``yield`` (the caller's context would
    keep it)."""
    if threads is None:
        yield available()
        return
    token = _BUDGET.set(check_threads(threads))
    try:
        yield threads
    finally:
        _BUDGET.reset(token)


def within(threads: int, work: Callable[[T], R]) -> Callable[[T], R]:
    """``work`` run with a budget of ``threads``."""

    def run(item: T) -> R:
        with budget(threads):
            return work(item)

    return run


def thread_map(work: Callable[[T], R], items: Sequence[T], threads: int | None = None) -> list[R]:
    """``[work(x) for x in items]`` on up to ``threads`` (default :func:`available`), the
    budget shared between the items running at once."""
    threads = threads or available()
    running = min(len(items), threads)
    if running <= 1:
        return [within(threads, work)(item) for item in items]
    with ThreadPoolExecutor(running) as pool:
        return list(pool.map(within(threads // running, work), items))


def ordered_map(
    work: Callable[[T], R], items: Iterable[T], threads: int | None = None, at_least: int = 0
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, work(item))`` in input order, on up to ``threads`` (default
    :func:`available`) with at most one more item than threads in flight.

    Unless ``items`` are known to be ``at_least`` as many as the threads, the first
    ``threads`` items are taken before any starts: fewer items than threads run with the
    budget shared between them (one item: in the calling thread, with all of it). Items
    known to fill every thread each start as soon as they are taken, so that taking the
    next (reading and planning a GOP) overlaps the work. The bound keeps memory flat: only
    a few GOPs exist at once however long the input is.
    """
    threads = threads or available()
    pending_items = iter(items)
    first = [] if at_least >= threads else list(itertools.islice(pending_items, threads))
    running = threads if at_least >= threads else min(len(first), threads)
    if running <= 1:
        run = within(threads, work)
        for item in itertools.chain(first, pending_items):
            yield item, run(item)
        return
    run = within(threads // running, work)
    with ThreadPoolExecutor(running) as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        for item in itertools.chain(first, pending_items):
            pending.append((item, pool.submit(run, item)))
            if len(pending) > running:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
