"""Issue 14, item 2: the run report — what each figure shows, its size bound, the page and the command."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_runs import REF, index, timings_frame, toy_run
from typer.testing import CliRunner

from scythe.results.report import report_html, write_report
from scythe.results.report.figures import (
    MAX_POINTS,
    Parallel,
    Scatter,
    boxes,
    build,
    durations,
    evenly,
    histogram,
    relations,
    timeline,
)
from scythe.results.report.html import NO_TIMINGS
from scythe.results.summary import RunData


def test_item_02_a_histogram_per_output_bins_every_value() -> None:
    data = toy_run(n=40, failed={5: ("ValueError", "bad")})
    figures = build(data)
    assert [h.name for h in figures.histograms] == ["y", "label"]  # every output field, in order
    numeric, text = figures.histograms
    assert sum(numeric.counts) == 39
    assert len(numeric.edges) == len(numeric.counts) + 1
    assert numeric.edges[0] == 0.0
    assert numeric.edges[-1] == 39.0**2
    assert dict(zip(text.labels, text.counts, strict=True)) == {"even": 20, "odd": 19}


def test_item_02_histogram_of_a_constant_a_missing_and_a_many_valued_column() -> None:
    constant = histogram("c", pd.Series([24.0] * 7 + [None]))
    assert constant.counts == [7]
    assert constant.missing == 1
    assert histogram("empty", pd.Series([None, None], dtype=float)).counts == []
    many = histogram("t", pd.Series([f"v{i % 30}" for i in range(300)]))
    assert len(many.labels) == 20
    assert many.other == 100


def test_item_02_scatter_of_each_output_against_each_numeric_input() -> None:
    view = relations(toy_run(n=40))
    assert isinstance(view, Scatter)
    assert view.inputs == ["x"]  # `mode` is text: not a scatter axis
    assert view.outputs == ["y"]  # `label` is text: not plotted against inputs
    assert (view.sample["y"] == view.sample["x"] ** 2).all()
    assert view.total == len(view.sample) == 40


def test_item_02_large_runs_are_sampled_evenly_and_deterministically() -> None:
    n = 123_457
    picked = evenly(n)
    assert len(picked) == MAX_POINTS
    assert picked[0] == 0
    assert picked[-1] == n - 1
    assert (np.diff(picked) > 0).all()
    assert (evenly(n) == picked).all()
    assert list(evenly(7)) == list(range(7))


def test_item_02_outputs_by_text_input_are_exact_quartiles_of_every_row() -> None:
    data = toy_run(n=30)
    (panel,) = boxes(data)  # one text input (mode) × one numeric output (y); `label` is no input
    assert (panel.input, panel.output) == ("mode", "y")
    by_mode = data.scalars.reset_index().groupby("mode")["y"]
    assert [b["label"] for b in panel.stats] == ["a", "b"]
    assert [b["med"] for b in panel.stats] == list(by_mode.median())
    assert [b["q3"] for b in panel.stats] == list(by_mode.quantile(0.75))


def test_item_02_parallel_coordinates_past_24_panels() -> None:
    rng = np.random.default_rng(0)
    n = 50
    inputs = {f"in{i}": rng.random(n) for i in range(5)}
    names = ["experiment_id", "sort_index", "root_workflow_run_id", *inputs]
    idx = pd.MultiIndex.from_arrays([["e"] * n, range(n), ["r"] * n, *inputs.values()], names=names)
    scalars = pd.DataFrame({f"out{j}": rng.random(n) * (j + 1) for j in range(5)}, index=idx)  # 5 × 5 = 25
    data = RunData(REF, None, {}, scalars, pd.DataFrame(), None)
    view = relations(data)
    assert isinstance(view, Parallel)
    assert view.axes == [*inputs, *(f"out{j}" for j in range(5))]
    assert view.scaled.shape == (n, 10)
    assert view.scaled.min() == 0.0
    assert view.scaled.max() == 1.0
    assert view.highs[-1] == pytest.approx(scalars["out4"].max())
    page = report_html(data)
    assert page.count("<svg") == 5 + 1  # a histogram per output, then one parallel-coordinates view
    assert "inputs → outputs, 50 of 50 specs" in page


def test_item_02_failures_grouped_by_error_type_with_counts_and_one_traceback() -> None:
    failed = {
        3: ("ValueError", "x is 3"),
        7: ("ValueError", "x is 7"),
        9: ("KeyError", "'k'"),
        11: ("ValueError", "x"),
    }
    groups = build(toy_run(n=20, failed=failed)).failures
    assert [(g.error_type, g.count, g.messages) for g in groups] == [("ValueError", 3, 3), ("KeyError", 1, 1)]
    assert groups[0].first_spec == 3
    assert "spec 3" in groups[0].traceback


def test_item_02_durations_and_utilisation_from_the_timings() -> None:
    data = toy_run(n=40)  # two workers, each running 20 one-second specs back to back
    spread = durations(data.timings)
    assert spread is not None
    assert spread.counts == [40]
    view = timeline(data.timings)
    assert view is not None
    assert view.lanes == ["host:100", "host:101"]
    assert view.n_bars == 8  # 4 batches of 10 × 2 workers
    assert view.edges[0] == 0.0
    assert view.edges[-1] == pytest.approx(20.0)
    widths = np.diff(view.edges)
    assert float(np.dot(view.running, widths)) == pytest.approx(40.0)  # busy seconds = Σ spec seconds
    assert max(view.running) == pytest.approx(2.0)
    assert min(view.running) == pytest.approx(2.0)
    assert view.busy == pytest.approx(1.0)  # both processes busy from first start to last end


def test_item_02_reused_rows_are_not_timed_here() -> None:
    sort = [0, 1, 2, 3]
    timings = timings_frame(
        sort,
        [1.0, 2.0, 9.0, 9.0],
        [0.0, 0.0, 0.0, 0.0],
        ["w:1"] * 4,
        [0] * 4,
        ["ok", "ok", "reused", "reused"],
    )
    spread = durations(timings)
    view = timeline(timings)
    assert spread is not None
    assert sum(spread.counts) == 2
    assert spread.edges[-1] == 2.0
    assert view is not None
    assert view.edges[-1] == pytest.approx(2.0)


def test_item_02_a_run_without_timings_says_so_instead_of_those_plots() -> None:
    page = report_html(toy_run(n=10, with_timings=False))
    assert page.count(NO_TIMINGS) == 2
    assert page.count("<svg") == 4  # two histograms, the scatter, the boxes; nothing for time


def test_item_02_the_page_is_self_contained_and_escapes_what_runs_wrote() -> None:
    hostile = "<script>alert('x')</script>"
    page = report_html(
        toy_run(n=12, failed={4: ("ValueError", hostile), 5: ("<b>Bad</b>", "</pre><img src=x>")})
    )
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>Bad" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;img src=x&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from a network
    assert page.count("<svg") == 6  # 2 histograms, scatter, boxes, durations, timeline


def test_item_02_report_size_is_bounded_by_fields_not_specs() -> None:
    """The docstring's bound: 200,000 specs give a report about as large as 2,000 do (< 1 MB):
    points are sampled and rasterised, histograms and utilisation binned."""
    sizes = {}
    for n in (2_000, 200_000):
        rng = np.random.default_rng(1)
        x = rng.random(n) * 10
        scalars = pd.DataFrame({"y": x**2, "z": np.sin(x)}, index=index(list(range(n)), list(x), ["a"] * n))
        started = list(np.arange(n) // 2 * 0.01)
        timings = timings_frame(
            list(range(n)),
            [0.01] * n,
            started,
            [f"h:{i % 2}" for i in range(n)],
            list(np.arange(n) // (n // 40)),  # 40 batches either way
            ["ok"] * n,
        )
        sizes[n] = len(report_html(RunData(REF, None, {}, scalars, pd.DataFrame(), timings)).encode())
    assert sizes[200_000] < 1_000_000
    assert sizes[200_000] < 1.5 * sizes[2_000]


def test_item_02_report_command_writes_into_the_run_and_to_o(tmp_path: Path, store: Path) -> None:
    from sample_experiments import square

    from scythe import allocate
    from scythe.cli import app

    result = allocate(square, [{"x": float(x)} for x in (1, 2, 13)], store=str(store), progress=False)
    out = tmp_path / "elsewhere"
    out.mkdir()
    said = CliRunner().invoke(
        app, ["results", "report", result.run.run_id, "-o", str(out), "--store", str(store)]
    )
    assert said.exit_code == 0, said.output
    in_store = store / result.run.prefix / "final" / "report.html"
    copy = out / f"report-{result.run.run_id}.html"
    assert said.output.split() == [str(in_store), str(copy)]  # plain paths, no file://
    assert in_store.read_bytes() == copy.read_bytes()
    page = copy.read_text()
    assert "thirteen is unlucky" in page
    assert "ValueError" in page
    assert page.count("<svg") >= 3


def test_item_02_report_lands_whole_and_runs_still_load(tmp_path: Path, store: Path) -> None:
    from sample_experiments import square

    from scythe import allocate
    from scythe.results import download, load

    result = allocate(square, [{"x": 2.0}], store=str(store), progress=False)
    (placed,) = write_report(result.run.prefix, str(store))
    assert placed.endswith("final/report.html")
    assert not list((store / result.run.prefix / "final").glob(".*.part"))  # no half-written page left
    assert set(load(result.run.prefix, str(store))) >= {"scalars", "errors"}  # report.html is no table
    copied = download(result.run.prefix, tmp_path / "dl", str(store))
    assert any(p.name == "report.html" for p in copied)


def test_item_02_an_unwritable_o_is_one_line_and_writes_nothing(tmp_path: Path, store: Path) -> None:
    from sample_experiments import square

    from scythe import allocate
    from scythe.cli import app

    result = allocate(square, [{"x": 2.0}], store=str(store), progress=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    said = CliRunner().invoke(
        app, ["results", "report", result.run.run_id, "-o", str(blocker / "r.html"), "-s", str(store)]
    )
    assert said.exit_code == 1
    assert said.output.startswith(f"error: cannot write the report to {blocker / 'r.html'}: ")
    assert len(said.output.strip().splitlines()) == 1
    assert not (store / result.run.prefix / "final" / "report.html").exists()
