"""The report page: one self-contained HTML file, its figures inline SVG and its style inline CSS.

No script, no external stylesheet, font or image: it opens offline, from a laptop, an e-mail or
a CI artifact. Every value that comes from a run (field names, error messages, tracebacks, run
ids) is HTML-escaped: a spec's message is written by whatever the experiment raised.
"""

from __future__ import annotations

from html import escape

from scythe.results.report import render
from scythe.results.report.figures import Figures, Parallel, Scatter

NO_TIMINGS = "no timings recorded for this run (gathered by a Scythe without them)"

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
  padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.facts td { padding: 0.1em 1em 0.1em 0; vertical-align: top; }
table.facts td:first-child { color: #666; }
.grid { display: flex; flex-wrap: wrap; gap: 0.5em; } .grid svg { height: auto; max-width: 100%; }
figure { margin: 0; } svg { max-width: 100%; height: auto; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 12px; }
.note { color: #666; font-style: italic; }
"""


def page(figures: Figures, title: str) -> str:
    """The whole report as one HTML document."""
    sections = [
        _facts(figures),
        _section("Outputs", _histograms(figures)),
        _section("Outputs against inputs", _relations(figures)),
        _section("Failures", _failures(figures)),
        _section("Spec durations", _durations(figures)),
        _section("Timeline and utilisation", _timeline(figures)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _section(heading: str, body: str) -> str:
    return f"<section><h2>{escape(heading)}</h2>\n{body}\n</section>"


def _note(text: str) -> str:
    return f"<p class='note'>{escape(text)}</p>"


def _facts(figures: Figures) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in figures.facts)
    return _section("Run", f"<table class='facts'>{rows}</table>")


def _histograms(figures: Figures) -> str:
    if not figures.histograms:
        return _note("no spec succeeded: there are no outputs to plot")
    shown = [h for h in figures.histograms if h.counts]
    if not shown:
        return _note("no spec succeeded: there are no outputs to plot")
    return "<div class='grid'>" + "".join(_figure(render.histogram_svg(h), h.name) for h in shown) + "</div>"


def _relations(figures: Figures) -> str:
    view = figures.relations
    parts = []
    if isinstance(view, Scatter):
        parts.append(_figure(render.scatter_svg(view), "outputs against numeric inputs"))
    elif isinstance(view, Parallel):
        parts.append(_figure(render.parallel_svg(view), "parallel coordinates"))
    else:
        parts.append(_note("no numeric input and output to plot against each other"))
    if figures.boxes:
        parts.append(_figure(render.boxes_svg(figures.boxes), "outputs by text input"))
    return "\n".join(parts)


def _failures(figures: Figures) -> str:
    if not figures.failures:
        return _note("no spec failed")
    parts = []
    for group in figures.failures:
        kinds = f", {group.messages} distinct messages" if group.messages > 1 else ""
        spec = f" (first: sort_index {group.first_spec})" if group.first_spec is not None else ""
        parts.append(
            f"<details><summary><b>{escape(group.error_type)}</b>: {group.count} specs{kinds} — "
            f"{escape(group.message)}</summary>\n<p>traceback of one{escape(spec)}:</p>"
            f"<pre>{escape(group.traceback)}</pre></details>"
        )
    return "\n".join(parts)


def _durations(figures: Figures) -> str:
    if figures.durations is None:
        return _note(NO_TIMINGS)
    return _figure(render.durations_svg(figures.durations), "spec durations")


def _timeline(figures: Figures) -> str:
    if figures.timeline is None:
        return _note(NO_TIMINGS)
    return _figure(render.timeline_svg(figures.timeline), "timeline")


def _figure(svg: str, label: str) -> str:
    return f"<figure aria-label='{escape(label)}'>{svg}</figure>"
