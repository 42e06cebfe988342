"""One thread budget (``-T``/``threads=``) that every pool honours, with no pool inside a pool."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import tezip
from tezip import parallel
from tezip.cli import cli
from tezip.errors import OptionError
from tezip.pipeline import Pipeline
from tezip_density import entropy
from tezip_rans.stage import RansStage


def frames(count: int = 12) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 200, (count, 24, 20), dtype=np.uint8)


class Seen:
    """The threads a function ran on, and the thread budget each call saw."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.budgets: list[int] = []
        self._lock = threading.Lock()

    def wrap(self, function: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.threads.add(threading.get_ident())
                self.budgets.append(parallel.available())
            return function(*args, **kwargs)

        return recorded


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_groups_are_coded_on_the_budget_and_inside_its_pool_no_more_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    for method in ("encode", "decode"):
        seen = Seen()
        monkeypatch.setattr(Pipeline, method, seen.wrap(getattr(Pipeline, method)))
        if method == "encode":
            tezip.pack(frames(), tmp_path / "a.tez", gop=2, threads=threads, overwrite=True)
        else:
            assert np.array_equal(tezip.unpack(tmp_path / "a.tez", threads=threads), frames())
        assert 1 <= len(seen.threads) <= threads
        assert seen.budgets == [1] * 6  # one call per group; threads split between groups
        if threads == 1:
            assert seen.threads == {threading.get_ident()}


@pytest.mark.parametrize(("groups", "budgets"), [(1, [4]), (2, [2, 2]), (3, [1, 1, 1])])
def test_fewer_groups_than_threads_share_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups: int, budgets: list[int]
) -> None:
    """One large group alone keeps the whole budget for its stages' own pools."""
    seen = Seen()
    monkeypatch.setattr(Pipeline, "encode", seen.wrap(Pipeline.encode))
    tezip.pack(frames(3 * groups), tmp_path / "a.tez", gop=3, threads=4)
    assert seen.budgets == budgets


@pytest.mark.parametrize(("threads", "budgets"), [(1, [1, 1, 1]), (2, [2, 2, 2]), (3, [1, 1, 1])])
def test_a_groups_candidates_are_drafted_at_once_where_the_budget_has_a_thread_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int, budgets: list[int]
) -> None:
    """``level=9`` drafts every one of the three predictors: on three threads each on its
    own, else one after another with the group's budget; the bytes are the same."""
    tezip.pack(frames(), tmp_path / "one.tez", level=9, threads=1)
    seen = Seen()
    draft = original = RansStage.draft
    if threads == 3:  # each waits for the others: they run at once (a pool may reuse a thread)
        together = threading.Barrier(3, timeout=60)

        def draft(self: RansStage, residuals: np.ndarray) -> Any:
            together.wait()
            return original(self, residuals)

    monkeypatch.setattr(RansStage, "draft", seen.wrap(draft))
    tezip.pack(frames(), tmp_path / "a.tez", level=9, threads=threads)
    assert seen.budgets == budgets
    assert len(seen.threads) == (3 if threads == 3 else 1)
    assert (tmp_path / "a.tez").read_bytes() == (tmp_path / "one.tez").read_bytes()


@pytest.mark.parametrize("budget", [1, 3])
def test_an_entropy_stage_pool_takes_its_threads_from_the_budget(
    monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """tezip.density kept a pool of four threads of its own, inside the pool of GOPs."""
    monkeypatch.setattr(entropy, "PARALLEL_WORK", 0)
    seen = Seen()
    monkeypatch.setattr(entropy, "_encode_part", seen.wrap(entropy._encode_part))
    data = np.random.default_rng(1).integers(0, 9, (4, 64, 64), dtype=np.uint8)
    with parallel.budget(budget):
        tezip.decode(tezip.encode(data, entropy="tezip.density", gop=4), threads=1)
    assert 1 <= len(seen.threads) <= budget
    assert set(seen.budgets) == {1}
    if budget == 1:
        assert seen.threads == {threading.get_ident()}


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_a_thread_count_is_a_positive_integer(tmp_path: Path, threads: Any) -> None:
    for call in (
        lambda: tezip.pack(frames(), tmp_path / "a.tez", threads=threads),
        lambda: tezip.encode(frames(), threads=threads),
        lambda: tezip.open(tezip.encode(frames()), threads=threads),
    ):
        with pytest.raises(OptionError, match="threads"):
            call()
    assert not (tmp_path / "a.tez").exists()


def test_the_command_line_takes_a_thread_budget(tmp_path: Path) -> None:
    np.save(tmp_path / "in.npy", frames())
    runner = CliRunner()
    packed = runner.invoke(cli, ["pack", str(tmp_path / "in.npy"), "-o", str(tmp_path / "a.tez")])
    assert packed.exit_code == 0, packed.output
    for arguments in (
        ["pack", str(tmp_path / "in.npy"), "-o", str(tmp_path / "b.tez"), "-T", "2"],
        ["unpack", str(tmp_path / "a.tez"), "-o", str(tmp_path / "out.npy"), "--threads", "1"],
        ["inspect", str(tmp_path / "a.tez"), "--verify", "-T", "2"],
    ):
        result = runner.invoke(cli, arguments)
        assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "out.npy"), frames())
    refused = runner.invoke(cli, ["pack", str(tmp_path / "in.npy"), "-o", "c.tez", "-T", "0"])
    assert refused.exit_code == 2 and "--threads" in refused.output


def test_the_default_budget_is_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if hasattr(parallel.os, "sched_getaffinity"):
        monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert parallel.available() == 3
    with parallel.budget(2):
        assert parallel.available() == 2
        with parallel.budget(None):
            assert parallel.available() == 2


@pytest.mark.parametrize("at_least", [0, 2])
def test_items_known_to_fill_the_threads_start_before_the_next_is_taken(at_least: int) -> None:
    first_started = threading.Event()
    seen: list[bool] = []

    def items() -> Any:
        yield 0
        # whether the first item's work began before the second item was taken
        seen.append(first_started.wait(timeout=1.0))
        yield from (1, 2)

    def work(item: int) -> int:
        if item == 0:
            first_started.set()
        return item * 10

    results = list(parallel.ordered_map(work, items(), threads=2, at_least=at_least))
    assert results == [(0, 0), (1, 10), (2, 20)]
    assert seen == [bool(at_least)]
