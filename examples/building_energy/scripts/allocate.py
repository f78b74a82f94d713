"""Build a design and run it: from a CSV/Parquet file, or a sample inside the schema's bounds.

`--n 100` draws a Latin hypercube of 100 specs, `--n 128 --method sobol` a Sobol sequence, and
`--design design.csv` runs your own table (one row per spec): `uv run python scripts/allocate.py`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from scythe import ScytheError, allocate, sample_design
from scythe.results import load
from scythe.sampling import Method

from building_energy.experiment import simulate
from building_energy.specs import BuildingEnergyInput

ROOT = Path(__file__).resolve().parent.parent
DATA_FILES = sorted((ROOT / "data" / "weather").glob("*.csv"))


def build_design(n: int, seed: int, method: Method = "lhs") -> pd.DataFrame:
    """Sample the numeric and enum inputs inside their bounds; cycle through the weather files.

    File inputs cannot be sampled, so they are fixed here: one weather file per row, in turn.
    """
    fixed = {"weather_file": str(DATA_FILES[0])}
    design = sample_design(BuildingEnergyInput, n, method, seed, fixed=fixed)
    design["weather_file"] = [str(DATA_FILES[i % len(DATA_FILES)]) for i in range(n)]
    return design


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--design", type=Path, help="CSV/Parquet design instead of sampling")
    parser.add_argument("--n", type=int, default=100, help="specs to sample (default 100)")
    parser.add_argument("--method", choices=["lhs", "sobol"], default="lhs", help="sampler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", help="directory or s3://bucket/prefix (default: SCYTHE_STORE)")
    parser.add_argument("--workers", type=int, help="embedded processes (default: CPU count)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        design = args.design or build_design(args.n, args.seed, args.method)
        result = allocate(
            simulate, design, store=args.store, workers=args.workers, progress=not args.quiet
        )
        scalars = load(result.run.prefix, store=args.store, tables=["scalars"])["scalars"]
    except ScytheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"run {result.run.prefix}: {result.succeeded} ok, {result.failed} failed")
    print(f"scalars.pq: {result.files['scalars']}")
    print(scalars.reset_index(level=["experiment_id", "root_workflow_run_id"], drop=True).head())
    return 0 if result.ok else 3


if __name__ == "__main__":
    sys.exit(main())
