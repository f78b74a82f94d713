"""Issue 12 items 3-4, the pure parts: what `scythe status --json` reports as queued/running, and
when a waiting run's watcher frees held slots or gives up (the real stack: tests/integration)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scythe.backends.base import TaskCounts
from scythe.backends.hatchet import monitor
from scythe.backends.hatchet.client import RunTasks
from scythe.backends.hatchet.monitor import RunWatch, queue_counts
from scythe.errors import BackendError
from scythe.run.commits import RunProgress


def progress(done: int, gathered: bool = False) -> RunProgress:
    return RunProgress(batches_done=done, specs_done=done * 10, gathered=gathered)


def test_a_run_no_worker_has_touched_queues_every_batch() -> None:
    tasks = RunTasks(scatter=TaskCounts(queued=1))  # the scatter has not triggered any batch yet
    assert queue_counts(progress(0), 10, tasks) == TaskCounts(queued=10)


def test_running_batches_and_the_scatter_are_running_not_queued() -> None:
    tasks = RunTasks(batch=TaskCounts(queued=5, running=2, completed=3), scatter=TaskCounts(running=1))
    assert queue_counts(progress(3), 10, tasks) == TaskCounts(queued=5, running=3, completed=3)


def test_a_resumed_run_queues_its_new_tasks_despite_the_failures_before_it() -> None:
    tasks = RunTasks(batch=TaskCounts(queued=2, completed=8, failed=2))  # failed: before the resume
    assert queue_counts(progress(8), 10, tasks).queued == 2


def test_the_gather_is_queued_once_every_batch_is_done_and_running_while_it_runs() -> None:
    waiting = RunTasks(batch=TaskCounts(completed=10), gather=TaskCounts(queued=1))
    assert queue_counts(progress(10), 10, waiting) == TaskCounts(queued=1, completed=10)
    gathering = RunTasks(batch=TaskCounts(completed=10), gather=TaskCounts(running=1))
    assert queue_counts(progress(10), 10, gathering) == TaskCounts(running=1, completed=10)
    gathered = RunTasks(batch=TaskCounts(completed=10), gather=TaskCounts(completed=1))
    assert queue_counts(progress(10, gathered=True), 10, gathered).queued == 0


def test_a_run_hatchet_gave_up_on_queues_nothing_until_resumed() -> None:
    tasks = RunTasks(batch=TaskCounts(completed=7, failed=1, cancelled=2))
    assert queue_counts(progress(7), 10, tasks) == TaskCounts(completed=7, failed=1, cancelled=2)


class Engine:
    """What RunWatch asks of `client`, scripted: task counts, running batch tasks, cancellations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, n_batches: int) -> None:
        self.tasks = RunTasks()
        self.running: dict[str, int] = {}
        self.missing: list[int] = list(range(n_batches))
        self.cancelled: list[str] = []
        self.triggered: list[Any] = []
        fake = SimpleNamespace(
            run_tasks=lambda *a: self.tasks,
            running_batches=lambda *a: self.running,
            cancel_tasks=lambda _h, ids: self.cancelled.extend(ids),
            trigger_batches=lambda _h, _r, batches: self.triggered.append(list(batches)),
            trigger_gather=lambda *a: self.triggered.append("gather"),
            last_failure=lambda *a: "scythe_gather: RuntimeError: boom",
            describe=lambda exc: str(exc),
        )
        monkeypatch.setattr(monitor, "client", fake)
        monkeypatch.setattr(monitor, "missing_batches", lambda *a: self.missing)


def watch(n_batches: int, said: list[str], *, taken: bool = False) -> RunWatch:
    manifest = SimpleNamespace(n_batches=n_batches, created_at=None)
    w = RunWatch(engine=None, run=SimpleNamespace(prefix="e/v1.0.0/r"), manifest=manifest, say=said.append)  # type: ignore[arg-type]
    w.next_check = 0.0
    w.taken = taken  # a worker took a batch (a check has seen it)
    return w


def check_at(w: RunWatch, at: float, done: int) -> None:
    w.next_check = 0.0
    w.check(None, progress(done), at)  # type: ignore[arg-type]


def test_a_batch_task_still_running_a_check_after_its_commit_has_its_slot_freed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, said = Engine(monkeypatch, 4), []
    w = watch(4, said, taken=True)
    engine.tasks = RunTasks(batch=TaskCounts(running=2, completed=1, queued=1))
    engine.running = {"t0": 0, "t1": 1}
    engine.missing = [1, 2, 3]  # batch 0 committed, its task still "running": a suspect only
    check_at(w, 100.0, 1)
    assert engine.cancelled == []
    check_at(w, 115.0, 1)  # still so a check later: the engine lost its completion
    assert engine.cancelled == ["t0"]
    assert said[-1] == "freed 1 worker slot(s) Hatchet held for batches already committed"
    engine.tasks = RunTasks(batch=TaskCounts(cancelled=1, completed=1, failed=0))
    engine.running, engine.missing = {}, [2]  # nothing live, one batch without a task: lost trigger
    check_at(w, 130.0, 3)
    check_at(w, 145.0, 3)  # the task it cancelled is not a give-up: no error
    check_at(w, 130.0 + monitor.STALL_SECONDS, 3)
    assert engine.triggered == [[2]]  # … and the missing batch is triggered again


def test_a_gather_hatchet_gave_up_on_ends_the_wait_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, said = Engine(monkeypatch, 2), []
    w = watch(2, said, taken=True)
    engine.missing = []
    engine.tasks = RunTasks(batch=TaskCounts(completed=2, failed=1), gather=TaskCounts(failed=1))
    check_at(w, 100.0, 2)  # idle once: could be the engine's status lag
    with pytest.raises(BackendError, match=r"1 gather task\(s\) failed.*RuntimeError: boom.*scythe resume"):
        check_at(w, 100.0 + monitor.HATCHET_CHECK_SECONDS, 2)


def test_the_queued_line_is_said_once_then_that_a_worker_took_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, said = Engine(monkeypatch, 3), []
    w = watch(3, said)
    engine.tasks = RunTasks(scatter=TaskCounts(queued=1))
    check_at(w, 10.0, 0)
    check_at(w, 13.0, 0)
    engine.tasks = RunTasks(batch=TaskCounts(running=1, queued=2))
    check_at(w, 16.0, 0)
    assert said == [monitor.QUEUED, monitor.TAKEN]


def test_the_batch_gathering_the_run_is_not_freed_as_stuck(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every batch committed and the last one's task still running a check later: it claimed the
    gather and is gathering in its own task (10^6 specs take ~10 s), so it is left alone; the
    autoscaler's counts show it running and no gather queued."""
    from scythe.backends.hatchet.tasks import claim_gather
    from scythe.run.layout import RunRef
    from scythe.store import LocalStore

    store = LocalStore(str(tmp_path))
    run = RunRef(store=str(tmp_path), experiment="e", version="v1", run_id="2026-12-03_00-00-00")
    assert claim_gather(store, run, 3)
    engine, said = Engine(monkeypatch, 4), []
    w = RunWatch(
        engine=None, run=run, manifest=SimpleNamespace(n_batches=4, created_at=None), say=said.append
    )  # type: ignore[arg-type]
    engine.tasks = RunTasks(batch=TaskCounts(running=1, completed=3))
    engine.running, engine.missing = {"t3": 3}, []
    for at in (100.0, 115.0, 130.0):
        w.next_check = 0.0
        w.check(store, progress(4), at)
    assert engine.cancelled == []
    assert queue_counts(progress(4), 4, engine.tasks) == TaskCounts(running=1, completed=4)


def test_a_run_the_store_shows_taken_is_not_asked_of_hatchet_until_a_check_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, said = Engine(monkeypatch, 3), []
    w = watch(3, said)
    asked: list[float] = []
    monitor.client.run_tasks = lambda *a: asked.append(1) or engine.tasks  # type: ignore[attr-defined]
    w.check(None, progress(0), 3.0)  # type: ignore[arg-type]  # nothing committed yet: Hatchet is asked
    assert asked == [1]
    w.next_check = 6.0
    w.check(None, progress(1), 6.0)  # type: ignore[arg-type]  # a batch committed: the run is taken
    assert (asked, w.taken, w.next_check) == ([1], True, 6.0 + monitor.HATCHET_CHECK_SECONDS)
    w.check(None, progress(2), w.next_check)  # type: ignore[arg-type]
    assert asked == [1, 1]
    assert said == [monitor.QUEUED, monitor.TAKEN]


def test_a_run_is_tagged_in_hatchet_by_its_store_as_well_as_its_id() -> None:
    """Run ids are unique per store: two stores' runs of one second must not be one to Hatchet."""
    from scythe.backends.hatchet.client import metadata
    from scythe.run.layout import RunRef

    one = RunRef(store="s3://bucket/one", experiment="e", version="v1", run_id="2026-12-04_12-00-00")
    other = one.model_copy(update={"store": "s3://bucket/two"})
    assert metadata(one) == {"scythe_run": "s3://bucket/one/e/v1/2026-12-04_12-00-00"}
    assert metadata(one) != metadata(other)
