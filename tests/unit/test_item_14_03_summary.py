"""Issue 14, item 3: the terminal summary (`scythe results show RUN`, the end of `scythe run`)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe
from report_runs import toy_run
from rich.console import Console

from scythe.results.summary import describe_outputs, error_groups, human_seconds, print_summary


def printed(data: object, width: int, **kwargs: object) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    print_summary(console, data, **kwargs)  # type: ignore[arg-type]
    return console.export_text().splitlines()


def test_item_03_describe_gives_min_median_max_per_output_in_order() -> None:
    stats = describe_outputs(toy_run(n=11, failed={10: ("ValueError", "x")}).scalars)
    assert [s.name for s in stats] == ["y", "label"]
    y, label = stats
    assert (y.count, y.low, y.median, y.high) == (10, 0.0, 20.5, 81.0)
    assert label.top == "even (5)"
    assert label.low is None


@pytest.mark.parametrize("width", [40, 60, 120])
def test_item_03_summary_fits_the_width_outputs_first(width: int) -> None:
    long = "a message far longer than any terminal is wide, " * 5
    data = toy_run(n=30, failed={3: ("ValueError", long), 4: ("ValueError", long), 5: ("KeyError", "'k'")})
    lines = printed(data, width)
    tables = lines[1:-1]  # the title and the final/ path are printed whole (soft-wrapped by the terminal)
    assert all(len(line) <= width for line in tables), "\n".join(tables)
    first = {
        key: next(i for i, line in enumerate(lines) if line.startswith(key))
        for key in ("output", "specs", "failed")
    }
    assert first["output"] < first["specs"] < first["failed"]  # outputs first
    assert lines[first["failed"]].split()[:3] == ["failed", "2", "ValueError:"]  # the commonest error first
    assert any(line.split()[:2] == ["3", "KeyError:"] or "KeyError: 'k'" in line for line in lines)
    assert lines[first["specs"]].split() == ["specs", "30", "ok", "27", "failed", "3"]
    assert not any("file://" in line for line in lines)


def test_item_03_summary_names_wall_time_and_spec_seconds() -> None:
    data = toy_run(n=40, wall_seconds=75.0, specs_per_second=0.53)
    (line,) = [line for line in printed(data, 100) if line.startswith("time")]
    assert line.split(maxsplit=1)[1] == "wall 1 min 15 s · 0.53 specs/s · spec median 1.0 s"
    no_record = toy_run(n=40)  # no wall_seconds recorded: the span of the specs' timings (20 s)
    assert any("wall 20.0 s" in line for line in printed(no_record, 100))
    assert human_seconds(0.012) == "12 ms"
    assert human_seconds(5400) == "1 h 30 min"


def test_item_03_top_errors_group_by_type_and_first_line() -> None:
    failed = {i: ("ValueError", f"too big\ndetail {i}") for i in range(5)} | {7: ("OSError", "disk")}
    groups = error_groups(toy_run(n=10, failed=failed).errors)
    assert [(g.error_type, g.message, g.count) for g in groups] == [
        ("ValueError", "too big", 5),
        ("OSError", "disk", 1),
    ]


def test_item_03_more_kinds_of_error_than_shown_are_counted() -> None:
    failed = {i: (f"E{i}", "boom") for i in range(8)}
    lines = printed(toy_run(n=10, failed=failed), 80)
    assert any(line.split()[:5] == ["3", "…", "3", "more", "kinds"] for line in lines), lines


def test_item_03_show_and_run_end_with_the_summary(
    tmp_path: Path, store: Path, cli_env: dict[str, str]
) -> None:
    design = tmp_path / "design.csv"
    pd.DataFrame({"x": [2.0, 13.0, 3.0, 13.0], "n": [1, 1, 2, 3]}).to_csv(design, index=False)
    ran = scythe(
        ["run", "sample_experiments:square", "-d", str(design), "-s", str(store), "-q"], cli_env, tmp_path
    )
    assert ran.returncode == 3, ran.stderr
    lines = ran.stdout.splitlines()
    (prefix,) = [line.split()[1] for line in lines if line.startswith("run ")]
    final = store / prefix / "final"
    assert [line.split()[:4] for line in lines if line.startswith(("output", "y ", "doubled"))] == [
        ["output", "n", "min", "median"],
        ["y", "2", "4", "6.5"],
        ["doubled", "2", "2", "3"],
    ]
    assert "specs    4  ok 2  failed 2" in ran.stdout
    assert "failed   2  ValueError: thirteen is unlucky" in ran.stdout
    (where,) = [line for line in lines if line.startswith("final ")]
    assert where.startswith(f"final    {final}  (errors, scalars, series")  # a plain path and the tables
    assert f"scythe results report {prefix}" in ran.stdout
    assert "file://" not in ran.stdout + ran.stderr
    assert f"{final}/errors.pq" in ran.stderr
    shown = scythe(["results", "show", prefix, "-s", str(store)], cli_env, tmp_path, check=True)
    assert shown.stdout.splitlines()[0] == f"run      {prefix}  (embedded)"
    assert "failed   2  ValueError: thirteen is unlucky" in shown.stdout
    table = scythe(
        ["results", "show", prefix, "-s", str(store), "--table", "errors"], cli_env, tmp_path, check=True
    )
    assert table.stdout.startswith("errors: 2 rows")


def test_item_03_a_run_where_every_spec_failed_says_so_instead_of_empty_rows() -> None:
    lines = printed(toy_run(n=3, failed={i: ("ValueError", "no") for i in range(3)}), 80)
    assert "no spec succeeded: no outputs" in lines
    assert not any(line.startswith("output") for line in lines)
    assert "failed   3  ValueError: no" in lines
