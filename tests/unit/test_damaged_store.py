"""Item 9: damaged commits (truncated, empty or missing shards, corrupt records) heal on resume."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe as scythe_cli
from sample_experiments import square
from shards import RemoteView

import scythe
from scythe import ScytheError
from scythe.run.commits import read_outcome
from scythe.run.manifest import find_run
from scythe.store import LocalStore

N_SPECS = 8  # four batches of two; the damage goes to batch 2 (sort_index 4 and 5)
BATCH = 2


def _run(store: Path) -> tuple[Path, str]:
    design = pd.DataFrame({"x": [float(i) for i in range(N_SPECS)]})
    result = scythe.allocate(square, design, store=str(store), batch_size=2, workers=1, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    return store / result.run.prefix, result.run.prefix


def _batch_dir(run_dir: Path) -> Path:
    return run_dir / "scatter-gather" / "results" / f"{BATCH:06d}"


def _truncate(run_dir: Path) -> None:
    path = _batch_dir(run_dir) / "scalars.pq"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(run_dir: Path) -> None:
    (_batch_dir(run_dir) / "scalars.pq").write_bytes(b"")


def _delete_named_shard(run_dir: Path) -> None:
    record = json.loads((_batch_dir(run_dir) / "_SUCCESS.json").read_text())
    (_batch_dir(run_dir) / record["scalars"]).unlink()


def _garbage_record(run_dir: Path) -> None:
    (_batch_dir(run_dir) / "_SUCCESS.json").write_bytes(b"\x00\xffnot json{")


def _assert_complete(run_dir: Path) -> None:
    scalars = pd.read_parquet(run_dir / "final" / "scalars.pq")
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(N_SPECS))
    assert list(scalars["y"]) == [float(i) ** 2 for i in range(N_SPECS)]


def _resume_heals(
    store: Path, run_dir: Path, prefix: str, expect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One resume names the damaged batch (a warning), re-runs it and gathers the whole run."""
    shutil.rmtree(run_dir / "final")  # so gather runs again (resume always gathers)
    with caplog.at_level(logging.WARNING, logger="scythe"):
        result = scythe.resume(prefix, store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    _assert_complete(run_dir)
    [warning] = [r.getMessage() for r in caplog.records if r.name.startswith("scythe")]
    assert f"batch {BATCH}: scatter-gather/results/{BATCH:06d}/" in warning
    assert expect in warning
    assert "\n" not in warning


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (_truncate, "scalars.pq is truncated"),
    "empty": (_empty, "scalars.pq is empty"),
    "missing": (_delete_named_shard, "scalars.pq is missing"),
    "garbage_record": (_garbage_record, "_SUCCESS.json is not a valid commit record"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_item_09_resume_names_and_reruns_a_damaged_batch(
    store: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir, prefix = _run(store)
    damage, expect = DAMAGE[kind]
    damage(run_dir)
    _resume_heals(store, run_dir, prefix, expect, caplog)


def test_item_09_only_the_damaged_batches_run_again(
    store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trace = tmp_path / "trace.txt"
    design = pd.DataFrame({"x": [float(i) for i in range(N_SPECS)], "trace": str(trace)})
    result = scythe.allocate(square, design, store=str(store), batch_size=2, workers=1, progress=False)
    run_dir = store / result.run.prefix
    _truncate(run_dir)
    (run_dir / "scatter-gather" / "results" / "000000" / "_SUCCESS.json").write_text("{}")
    shutil.rmtree(run_dir / "final")
    trace.write_text("")
    with caplog.at_level(logging.WARNING, logger="scythe"):
        scythe.resume(result.run.prefix, store=str(store), workers=1, progress=False)
    assert sorted(int(line) for line in trace.read_text().split()) == [0, 1, 4, 5]  # each once
    _assert_complete(run_dir)
    assert re.search(r"2 committed batches of 4 are damaged.*batch 0: .*; batch 2: ", caplog.text)


def test_item_09_damage_that_persists_is_one_error_naming_the_batch(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Healing is tried once per call: a batch still damaged after its re-run (a store that
    corrupts what it is given) is one ScytheError naming it, and the next resume tries again."""
    from scythe.backends import embedded

    run_dir, prefix = _run(store)
    _truncate(run_dir)
    shutil.rmtree(run_dir / "final")
    execute = embedded.execute

    def execute_and_damage(*args: object, **kwargs: object) -> object:
        done = execute(*args, **kwargs)  # type: ignore[arg-type]
        if (_batch_dir(run_dir) / "scalars.pq").exists():
            _truncate(run_dir)
        return done

    monkeypatch.setattr(embedded, "execute", execute_and_damage)
    with pytest.raises(ScytheError) as caught:
        scythe.resume(prefix, store=str(store), workers=1, progress=False)
    message = str(caught.value)
    assert f"batch {BATCH}: scatter-gather/results/{BATCH:06d}/scalars.pq is truncated" in message
    assert f"scythe resume {prefix}" in message
    assert "\n" not in message
    assert not (_batch_dir(run_dir) / "_SUCCESS.json").exists()  # reset: the next resume runs it
    monkeypatch.setattr(embedded, "execute", execute)
    result = scythe.resume(prefix, store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    _assert_complete(run_dir)


def test_item_09_read_outcome_treats_a_corrupt_record_as_absent(store: Path) -> None:
    run_dir, prefix = _run(store)
    local = LocalStore(store)
    ref = find_run(local, prefix)
    assert read_outcome(local, ref, BATCH) is not None
    for garbage in [
        b"",
        b"{",
        b"\x00\xff",
        b'{"batch": "x"}',
        json.dumps({"batch": 3, "succeeded": 2, "failed": 0}).encode(),
    ]:
        (_batch_dir(run_dir) / "_SUCCESS.json").write_bytes(garbage)
        assert read_outcome(local, ref, BATCH) is None  # batch 3's record in batch 2's folder, too


def test_item_09_a_remote_store_checks_the_downloaded_shards(store: Path) -> None:
    from scythe.run.gather import gather_experiment
    from scythe.run.manifest import read_manifest

    run_dir, prefix = _run(store)
    remote = RemoteView(store)
    ref = find_run(remote.local, prefix)
    manifest = read_manifest(remote.local, ref)
    _truncate(run_dir)
    (run_dir / "scatter-gather" / "results" / "000003" / "scalars.pq").unlink()
    with pytest.raises(ScytheError) as caught:
        gather_experiment(remote, ref, manifest)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "batch 2: scatter-gather/results/000002/scalars.pq is truncated" in message
    assert "batch 3: scatter-gather/results/000003/scalars.pq is missing" in message
    assert not (_batch_dir(run_dir) / "_SUCCESS.json").exists()
    result = scythe.resume(prefix, store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (N_SPECS, 0)
    _assert_complete(run_dir)


def test_item_09_one_cli_resume_names_the_damaged_batch_and_completes(
    store: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    run_dir, prefix = _run(store)
    _truncate(run_dir)
    shutil.rmtree(run_dir / "final")
    proc = scythe_cli(["resume", prefix, "--store", str(store), "-q"], cli_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"warning: 1 committed batch of 4 is damaged and will run again: batch {BATCH}: ")
    assert "scalars.pq is truncated" in line
    _assert_complete(run_dir)
