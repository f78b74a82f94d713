"""Issue 14, item 2: the example's run report, drawn by a real browser (headless Chromium, offline).

A run of the building-energy example, then `scythe results report`; Chromium (Debian's, which
`make services` installs) loads the file with background networking off: its DOM must hold one
non-empty SVG per figure, and its screenshot must not be blank. Chromium missing is a failure
that names the install, not a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from building_energy.experiment import simulate
from conftest import example_design
from PIL import Image

from integration.conftest import Stack
from scythe import allocate
from scythe.results import download
from scythe.results.report import write_report
from scythe.results.summary import read_run

pytestmark = pytest.mark.slow

OUTPUTS = ("heating", "cooling", "lighting", "equipment", "fans", "pumps")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Debian's chromium, headless, offline: no sandbox (root in CI), no GPU, no background fetches."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: `make services` installs Debian's (apt-get install chromium)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ]
    return subprocess.run(
        [binary, *flags, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a 120-spec run of the example, written into the run and copied to a file."""
    root = tmp_path_factory.mktemp("report")
    result = allocate(simulate, example_design(120), store=str(root / "store"), workers=2, progress=False)
    assert result.ok
    page = root / "report.html"
    placed = write_report(result.run.prefix, str(root / "store"), page)
    assert placed[0].endswith("/final/report.html")
    return page


def test_item_02_chromium_draws_every_figure(report: Path, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile").stdout
    svgs = re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)
    drawn = [svg for svg in svgs if re.search(r"<path\b[^>]*\bd=\"M", svg)]
    # one histogram per output, the scatter grid, the boxes by text input, the durations, the timeline
    assert len(drawn) == len(OUTPUTS) + 4, f"{len(drawn)} of {len(svgs)} SVGs have paths"
    for name in OUTPUTS:
        assert f"{name}</text>" in dom or f">{name}<" in dom, f"no histogram titled {name}"
    scatter = next(svg for svg in drawn if "outputs against numeric inputs" in svg)
    assert scatter.count("<image") == len(OUTPUTS) * 3  # a rasterised panel per output × numeric input
    assert "no timings recorded" not in dom  # the example's gather records them: both time plots drawn
    assert "specs running" in dom


def test_item_02_chromium_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(
        "--hide-scrollbars",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        report.as_uri(),
        profile=tmp_path / "p",
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1280)
    assert pixels.std() > 20, "the screenshot is (nearly) one colour"
    ink = (pixels < 128).mean()  # share of dark pixels: text, bars, points
    assert 0.01 < ink < 0.5, f"{ink:.1%} of the page is dark"


def test_item_02_on_an_s3_store_the_report_lands_beside_the_tables(stack_env: Stack, tmp_path: Path) -> None:
    uri = stack_env.store("report")
    result = allocate(simulate, example_design(12), store=uri, workers=2, progress=False)
    (placed,) = write_report(result.run.prefix, uri)
    assert placed == f"{uri}/{result.run.prefix}/final/report.html"  # the store's URI: there is no path
    assert read_run(result.run.prefix, uri).final.startswith("s3://")
    copied = download(result.run.run_id, tmp_path / "dl", store=uri)
    page = tmp_path / "dl" / result.run.run_id / "final" / "report.html"
    assert page in copied
    assert page.read_text().count("<svg") >= len(OUTPUTS) + 3
