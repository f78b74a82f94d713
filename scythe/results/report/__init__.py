"""`scythe results report RUN`: one self-contained HTML page of a run — what it produced and how it ran.

`figures` computes what each plot shows (pure, tested without drawing), `render` draws them with
matplotlib as inline SVG, `html` assembles the page. The page is written into the run's folder in
the store (`final/report.html`, so `scythe results download` carries it and an S3 run keeps it
beside its tables) and/or to a local path. Needs the `report` extra (matplotlib); without it, the
command stops with the one line naming the install.
"""

from __future__ import annotations

from pathlib import Path

from scythe.results.catalog import REPORT
from scythe.results.summary import RunData, read_run, where

__all__ = ["REPORT", "report_html", "write_report"]


def report_html(data: RunData) -> str:
    """The report of `data` as an HTML document (matplotlib needed)."""
    from scythe.results.report.figures import build
    from scythe.results.report.html import page

    return page(build(data), f"Scythe run {data.ref.prefix}")


def write_report(
    run: str | RunData, store: str | None = None, output: Path | None = None, into_store: bool = True
) -> list[str]:
    """Render the report of `run` and write it to the run's folder and/or `output` (a file, or a
    folder to hold `report-<run id>.html`); where it went.

    Each file is written whole (`staged_write`, an atomic rename locally): a failed render leaves
    no half page, and an earlier report stays until the new one is complete.
    """
    from scythe.extras import require

    require("report", "scythe results report")
    from scythe.results.catalog import open_results_store
    from scythe.store import staged_write

    data = run if isinstance(run, RunData) else read_run(run, store)
    document = report_html(data).encode()
    places = []
    if output is not None:  # first: the path a user typed is the likelier one to be refused
        places.append(
            _write_local(output / f"report-{data.ref.run_id}.html" if output.is_dir() else output, document)
        )
    if into_store:
        target = open_results_store(data.ref.store if isinstance(run, RunData) else store)
        key = data.ref.key(REPORT)
        with staged_write(target, key) as path:
            path.write_bytes(document)
        places.insert(0, where(target, key))
    return places


def _write_local(path: Path, document: bytes) -> str:
    """`document` at `path`, whole; a path that cannot be written is one line naming it."""
    from scythe.errors import ScytheError
    from scythe.store import atomic_write

    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(document))
    except OSError as exc:
        raise ScytheError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return str(path)
