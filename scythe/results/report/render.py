"""The report's figures drawn with matplotlib, each as an inline SVG string.

Why matplotlib → SVG: the page must open with no network and no JavaScript (a laptop on a
train, a file attached to an issue), and inline SVG is the format browsers draw natively; text
stays text (searchable, crisp at any zoom). Plotly would embed ~3.5 MB of JavaScript in every
report (Altair's Vega about 1 MB), and draw nothing without a script engine. Figures are made
with `matplotlib.figure.Figure` directly, never pyplot, so no GUI backend or global figure state
is involved (safe in any process: a notebook, a server, a headless CI job).

Size bound: dense marks (scatter points, parallel-coordinate lines) are rasterised inside the
SVG (`rasterized=True`: one embedded PNG per panel at `DPI`), axes and text stay vector. So a
report's size depends on the number of fields, not of specs: the example's 6 outputs × 3 inputs
report is ~380 KB at 300 specs (18 scatter and 12 box panels); 10^6 specs make ~0.5 MB (`figures`
has the sampling and the numbers).
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import TYPE_CHECKING

from scythe.results.report.figures import Boxes, Histogram, Parallel, Scatter, Timeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 80
COLOUR = "#3b6ea8"
STYLE = {
    "svg.fonttype": "none",  # text as <text>, not glyph paths: smaller, searchable
    "svg.hashsalt": "scythe",  # stable element ids: the same run renders the same bytes
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def styled() -> contextlib.AbstractContextManager[None]:
    """The report's matplotlib settings, for this block only (the user's rcParams are left alone)."""
    import matplotlib

    return matplotlib.rc_context(STYLE)  # type: ignore[arg-type]  # rcParams keys are Literals in the stubs


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def to_svg(figure: Figure) -> str:
    """The figure as an `<svg>` element (the XML prologue and DOCTYPE dropped, for inlining)."""
    buffer = io.StringIO()
    with styled():
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _draw_histogram(axes: Axes, hist: Histogram) -> None:
    if hist.labels:
        positions = range(len(hist.labels))
        axes.barh(list(positions), hist.counts, color=COLOUR)
        axes.set_yticks(list(positions), [label[:24] for label in hist.labels])
        axes.invert_yaxis()
        axes.set_xlabel("specs")
    elif hist.counts:
        widths = [b - a for a, b in zip(hist.edges, hist.edges[1:], strict=False)]
        axes.bar(hist.edges[:-1], hist.counts, width=widths, align="edge", color=COLOUR, edgecolor="white")
        axes.set_ylabel("specs")
    else:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
    notes = [f"{hist.missing} missing"] * bool(hist.missing) + [f"{hist.other} other values"] * bool(
        hist.other
    )
    axes.set_title(hist.name + (f" ({', '.join(notes)})" if notes else ""), loc="left")


def histogram_svg(hist: Histogram) -> str:
    """One field's histogram (text fields as horizontal bars of their commonest values)."""
    with styled():
        figure = _figure(3.4, 2.4 if not hist.labels else max(2.4, 0.5 + 0.16 * len(hist.labels)))
        _draw_histogram(figure.add_subplot(), hist)
        return to_svg(figure)


def scatter_svg(scatter: Scatter) -> str:
    """A grid: one row per output, one column per numeric input; points rasterised."""
    rows, cols = len(scatter.outputs), len(scatter.inputs)
    with styled():
        figure = _figure(min(2.3 * cols, 12), 1.9 * rows)
        grid = figure.subplots(rows, cols, squeeze=False, sharex="col", sharey="row")
        size = 6 if len(scatter.sample) <= 1000 else 2
        for r, output in enumerate(scatter.outputs):
            for c, field in enumerate(scatter.inputs):
                axes = grid[r][c]
                axes.scatter(
                    scatter.sample[field],
                    scatter.sample[output],
                    s=size,
                    alpha=0.5,
                    color=COLOUR,
                    lw=0,
                    rasterized=True,
                )
                if r == rows - 1:
                    axes.set_xlabel(field)
                if c == 0:
                    axes.set_ylabel(output)
        shown = len(scatter.sample)
        note = (
            f"{shown} specs"
            if shown == scatter.total
            else f"{shown} of {scatter.total} specs, evenly sampled"
        )
        figure.suptitle(f"outputs against numeric inputs ({note})", x=0.01, ha="left", fontsize=8)
        return to_svg(figure)


def parallel_svg(view: Parallel) -> str:
    """Parallel coordinates, inputs then outputs, lines coloured by the first output; rasterised."""
    from matplotlib.collections import LineCollection

    k = len(view.axes)
    with styled():
        figure = _figure(min(0.9 * k + 1, 16), 3.6)
        axes = figure.add_subplot()
        xs = list(range(k))
        lines = LineCollection(
            [list(zip(xs, row, strict=True)) for row in view.scaled],
            array=view.colour,
            cmap="viridis",
            linewidths=0.5,
            alpha=0.35,
            rasterized=True,
        )
        axes.add_collection(lines)
        axes.set_xlim(-0.2, k - 0.8)
        axes.set_ylim(-0.05, 1.05)
        ranges = zip(view.axes, view.lows, view.highs, strict=True)
        axes.set_xticks(
            xs, [f"{a}\n{_short(lo)}–{_short(hi)}" for a, lo, hi in ranges], rotation=60, ha="right"
        )
        axes.set_yticks([0, 1], ["min", "max"])
        for x in xs:
            axes.axvline(x, color="#999", lw=0.5)
        figure.colorbar(lines, ax=axes, label=view.colour_by)
        shown = len(view.scaled)
        axes.set_title(f"inputs → outputs, {shown} of {view.total} specs", loc="left")
        return to_svg(figure)


def _short(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "?"


def durations_svg(hist: Histogram) -> str:
    """The distribution of the specs' wall seconds."""
    return histogram_svg(hist)


def timeline_svg(view: Timeline) -> str:
    """Batches per worker over time (top) and the mean number of specs running (bottom)."""
    with styled():
        lanes = len(view.lanes) if view.bars else 0
        figure = _figure(9, 1.6 + (min(lanes, 40) * 0.18 if lanes else 0))
        if view.bars:
            top, bottom = figure.subplots(
                2, 1, sharex=True, height_ratios=[max(1, min(lanes, 40) * 0.18), 1.4]
            )
            for lane, start, end, batch in view.bars:
                top.barh(lane, max(end - start, 1e-6), left=start, height=0.8, color=f"C{batch % 10}", lw=0)
            top.set_yticks(range(lanes), [name[-24:] for name in view.lanes] if lanes <= 40 else [""] * lanes)
            top.invert_yaxis()
            top.set_title(f"batches on each worker ({view.n_bars} bars; colour: batch)", loc="left")
        else:
            bottom = figure.add_subplot()
            if view.n_bars:
                bottom.set_title(
                    f"{view.n_bars} (worker, batch) spans: too many to draw one by one", loc="left"
                )
        bottom.stairs(view.running, view.edges, fill=True, color=COLOUR, alpha=0.8)
        processes = len(view.lanes)  # what full utilisation is: every spec process busy
        bottom.axhline(processes, color="#c44", lw=1, ls="--")
        bottom.set_title(
            f"specs running; dashed: {processes} spec processes ({view.busy:.0%} busy)", loc="left"
        )
        bottom.set_xlabel("seconds since the first spec started")
        bottom.set_ylabel("specs running")
        return to_svg(figure)


def boxes_svg(panels: list[Boxes]) -> str:
    """Each numeric output by each text input: boxes of quartiles, whiskers at 5th/95th percentiles."""
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    with styled():
        figure = _figure(3.3 * cols, 2.2 * rows)
        grid = figure.subplots(rows, cols, squeeze=False)
        for axes, panel in zip(grid.flat, panels, strict=False):
            axes.bxp(
                panel.stats, showfliers=False, patch_artist=True, boxprops={"facecolor": COLOUR, "alpha": 0.6}
            )
            axes.set_ylabel(panel.output)
            axes.set_xlabel(panel.input)
            axes.tick_params(axis="x", labelrotation=20)
        for axes in list(grid.flat)[len(panels) :]:
            axes.set_axis_off()
        figure.suptitle("outputs by text input (quartiles; whiskers 5th–95th percentile)", x=0.01, ha="left")
        return to_svg(figure)
