"""The benchmarks still work: bench/ at its smoke size, and its synthetic shards match real ones.

Benchmarks are not tests: only this tiny size runs here (`make bench` runs the full sizes). The
Hatchet fan-out benchmark runs against a real local stack but without its upstream contender,
whose venv comes from PyPI and which needs minutes (`make bench-smoke` runs it too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "embedded": ["embedded, 2,000 trivial specs", "embedded, 20 specs × 50 ms CPU"],
    "allocation": ["allocation, 10,000 building-energy specs"],
    "gather": ["gather, 10,000 results"],
    "scaffold": ["scythe new:", "scythe specs:"],
    "granularity": ["400 specs × 10 ms on 4 slots", "40 specs × 100 ms on 4 slots"],
}


def test_every_benchmark_prints_its_tables_at_smoke_size() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCYTHE_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--size", "smoke", "--skip", "hatchet", "--skip", "cores"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for name, titles in TABLES.items():
        assert f"## {name}" in out
        for title in titles:
            header = next((ln for ln in out.splitlines() if ln.startswith(f"== {title}")), None)
            assert header is not None, f"no table {title!r} in:\n{out}"
    rows = [ln for ln in out.splitlines() if re.match(r"^scythe .*\s1\.00×", ln)]
    assert len(rows) == 8, out  # Scythe's own row in each table: the ratio column is there
    assert re.search(r"^target: .*: (MET|MISSED) \(", out, re.MULTILINE)
    assert (ROOT / "bench" / "out" / "results" / "gather-smoke.json").is_file()


@pytest.mark.parametrize("shard", ["scalars.pq", "df-monthly.pq"])
def test_synthetic_gather_shards_have_the_schema_of_real_ones(tmp_path: Path, shard: str) -> None:
    """The gather benchmark's shards are synthesised; they must be what run_batch writes."""
    from building_energy.experiment import simulate
    from building_energy.specs import BuildingEnergyInput

    from bench.allocation import WEATHER
    from bench.gather import synthesise
    from scythe import allocate, sample_design

    design = sample_design(BuildingEnergyInput, 6, seed=1, fixed={"weather_file": str(WEATHER[0])})
    real = allocate(simulate, design, store=str(tmp_path / "real"), workers=1, progress=False)
    assert real.ok
    real_shard = next((tmp_path / "real").rglob(f"results/000000/{shard}"))
    fake_root = synthesise(6, root=tmp_path / "fake")
    fake_shard = next(fake_root.rglob(f"results/000000/{shard}"))
    assert pq.read_schema(fake_shard) == pq.read_schema(real_shard)


def test_hatchet_fanout_benchmark_runs_at_smoke_size() -> None:
    """The fan-out benchmark against a real local stack, every contender but upstream's (its venv
    comes from PyPI and it needs minutes; `make bench-smoke` runs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "HATCHET_", "AWS_"))}
    script = "from bench import fanout; print(fanout.run('smoke', 1, upstream=False).text())"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for contender in (
        r"scythe hatchet backend",
        r"raw SDK, \d+ batch tasks",
        r"raw SDK \+ S3, \d+ batch tasks",
        r"raw SDK, 1 task/spec",
    ):
        assert re.search(rf"^{contender} .*\d\.\d+×", done.stdout, re.MULTILINE), done.stdout
