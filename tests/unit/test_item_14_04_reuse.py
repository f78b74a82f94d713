"""Issue 14, item 4: memoisation across runs. `allocate(..., reuse=True)` / `scythe run --reuse`
runs only the specs no earlier gathered run of the same experiment and version succeeded on,
input files compared by content; the new run's final tables still hold every row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe
from memo_experiments import EXECUTIONS, FIXED, counted, executed, fixable
from sample_experiments import reporter

from scythe import allocate
from scythe.run.allocation import RunResult
from scythe.run.gather import gather_experiment
from scythe.run.manifest import read_manifest
from scythe.run.task import run_batch
from scythe.store import LocalStore


def design(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [i * 0.5 for i in range(n)], "n": [1 + i % 3 for i in range(n)]})


def run(rows: pd.DataFrame, store: Path, version: str = "1.0.0", **options: bool) -> RunResult:
    return allocate(counted, rows, store=str(store), version=version, progress=False, workers=2, **options)


def final(store: Path, result: RunResult, table: str) -> pd.DataFrame:
    return pd.read_parquet(store / result.run.prefix / "final" / f"{table}.pq")


def without_run_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(["experiment_id", "root_workflow_run_id"], drop=True)


def test_item_04_extending_300_specs_to_400_executes_exactly_the_100_new_ones(
    tmp_path: Path, store: Path, executions: Path
) -> None:
    first = run(design(300), store)
    assert executed(executions) == list(range(300))

    extended = run(design(400), store, reuse=True)
    assert executed(executions) == list(range(300, 400))  # exactly the 100 new specs ran
    assert (extended.succeeded, extended.failed, extended.reused) == (400, 0, 300)

    full = run(design(400), tmp_path / "another-store")
    assert executed(executions) == list(range(400))
    for table in ("scalars", "series"):  # equal to a full 400-spec run's, apart from run ids
        pd.testing.assert_frame_equal(
            without_run_ids(final(store, extended, table)),
            without_run_ids(final(tmp_path / "another-store", full, table)),
        )
    timings = final(store, extended, "timings")
    assert len(timings) == 400
    assert timings["status"].value_counts().to_dict() == {"reused": 300, "ok": 100}
    reused = timings[timings["status"] == "reused"]
    assert (reused["reused_from"] == first.run.experiment_id).all()
    assert reused.index.get_level_values("sort_index").tolist() == list(range(300))
    assert reused["seconds"].notna().all()
    assert reused["worker"].isna().all()
    assert "reused_from" not in final(store, extended, "scalars").columns  # outside the outputs


def test_item_04_misses_inside_batches_keep_every_table_in_sort_index_order(
    tmp_path: Path, store: Path, executions: Path
) -> None:
    run(design(40), store)
    executed(executions)
    changed = design(40)
    changed.loc[changed.index % 4 == 0, "x"] += 500  # every fourth spec is new: misses in each batch
    again = run(changed, store, reuse=True)
    assert executed(executions) == list(range(0, 40, 4))
    full = run(changed, tmp_path / "another-store")
    for table in ("scalars", "series", "timings"):
        ours = without_run_ids(final(store, again, table))
        assert ours.index.get_level_values("sort_index").is_monotonic_increasing
        if table != "timings":
            pd.testing.assert_frame_equal(
                ours, without_run_ids(final(tmp_path / "another-store", full, table))
            )


def test_item_04_input_files_count_by_content_not_by_path(
    tmp_path: Path, store: Path, executions: Path
) -> None:
    first, second = tmp_path / "a" / "weather.epw", tmp_path / "b" / "other-name.epw"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("same bytes")
    rows = design(6).assign(weather=str(first))
    run(rows, store)
    assert len(executed(executions)) == 6

    moved = run(rows.assign(weather=str(second)), store, reuse=True)  # another path, same content
    assert executed(executions) == []
    assert moved.reused == 6

    first.write_text("new bytes!")  # the same path, new content
    edited = run(rows, store, reuse=True)
    assert executed(executions) == list(range(6))
    assert edited.reused == 0
    assert (final(store, edited, "scalars")["size"] == len("new bytes!")).all()


def test_item_04_only_the_same_version_and_only_successes_are_reused(store: Path, executions: Path) -> None:
    run(design(10), store, version="1.0.0")
    executed(executions)
    other = run(design(10), store, version="1.1.0", reuse=True)
    assert len(executed(executions)) == 10
    assert other.reused == 0

    rows = pd.DataFrame({"x": [10.0, 20.0, 60.0, 70.0]})  # fixable fails x >= 50 until fixed
    failing = allocate(fixable, rows, store=str(store), version="2.0.0", progress=False, workers=2)
    assert failing.failed == 2
    executed(executions)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FIXED, "1")
        fixed = allocate(
            fixable, rows, store=str(store), version="2.0.0", progress=False, workers=2, reuse=True
        )
    assert executed(executions) == [2, 3]  # the failures ran again, the successes were copied
    assert (fixed.succeeded, fixed.failed, fixed.reused) == (4, 0, 2)


def test_item_04_without_reuse_every_spec_runs(store: Path, executions: Path) -> None:
    run(design(10), store)
    executed(executions)
    again = run(design(10), store)
    assert len(executed(executions)) == 10
    assert again.reused == 0


def test_item_04_scythe_run_reuse_from_the_command_line(
    tmp_path: Path, store: Path, executions: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, EXECUTIONS: str(executions)}
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    design(12).to_csv(small, index=False)
    design(20).to_csv(large, index=False)
    base = ["run", "memo_experiments:counted", "-s", str(store), "--version", "1.0.0", "-q"]
    scythe([*base, "-d", str(small)], env, tmp_path, check=True)
    executed(executions)
    scythe([*base, "-d", str(large), "--reuse"], env, tmp_path, check=True)
    assert executed(executions) == list(range(12, 20))
    shown = scythe(["run", "--help"], env, tmp_path, check=True).stdout
    assert "--reuse" in shown
    assert "by content" in " ".join(shown.split())


def test_item_04_a_backend_that_runs_every_batch_still_gathers_each_row_once(
    store: Path, executions: Path
) -> None:
    # Hatchet and Slurm submit every batch, the fully reused ones included (their inputs are empty).
    run(design(40), store)
    executed(executions)
    again = run(design(40), store, reuse=True)
    assert executed(executions) == []
    assert again.reused == 40
    target = LocalStore(store)
    manifest = read_manifest(target, again.run)
    before = final(store, again, "scalars")
    for batch in range(manifest.n_batches):
        run_batch(again.run, batch)
    assert executed(executions) == []  # nothing ran: every spec of every batch was reused
    gather_experiment(target, again.run, manifest)
    pd.testing.assert_frame_equal(final(store, again, "scalars"), before)


def test_item_04_output_files_of_reused_specs_keep_their_uris_at_their_new_sort_index(store: Path) -> None:
    first = allocate(
        reporter, pd.DataFrame({"x": [1.0, 2.0, 3.0]}), store=str(store), version="1.0.0", progress=False
    )
    shifted = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})  # a new spec in front: the old ones move down
    again = allocate(reporter, shifted, store=str(store), version="1.0.0", progress=False, reuse=True)
    assert again.reused == 3
    old = final(store, first, "result_file_refs").reset_index("x")
    new = final(store, again, "result_file_refs").reset_index("x")
    assert new["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert new["report"].tolist()[1:] == old["report"].tolist()
    assert again.run.run_id in new["report"].iloc[0]
    assert final(store, again, "scalars")["y"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_item_04_keys_of_every_column_type_tell_rows_apart() -> None:
    """A boolean design column once raised ArrowInvalid (no zero-copy numpy view of booleans):
    every allocation of an experiment with a `bool` field failed."""
    import pyarrow as pa

    from scythe.run.reuse import spec_keys

    table = pa.table(
        {
            "flag": pa.array([True, False, True, None]),
            "n": pa.array([1, 2, 1, 1]),
            "x": pa.array([0.5, 0.5, 0.5, 0.5]),
            "name": pa.array(["a", "b", "a", "a"]),
        }
    )
    keys = spec_keys(table, ["flag", "n", "name", "x"], set()).to_pylist()
    assert keys[0] == keys[2]  # equal inputs, equal keys
    assert len({keys[0], keys[1], keys[3]}) == 3  # a flipped or missing flag is another spec
