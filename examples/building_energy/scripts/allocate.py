"""Build a design and run it: from a CSV (--design) or a Latin-hypercube sample (--n)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from building_energy.experiment import simulate
from building_energy.specs import BuildingEnergyInput

from scythe import ScytheError, allocate, sample_design
from scythe.results import load

HERE = Path(__file__).resolve().parent.parent
WEATHER = sorted((HERE / "data" / "weather").glob("*.csv"))


def build_design(n: int, seed: int) -> pd.DataFrame:
    """Sample the numeric and enum inputs inside the schema's bounds; cycle the weather files."""
    design = sample_design(BuildingEnergyInput, n, "lhs", seed, fixed={"weather_file": str(WEATHER[0])})
    design["weather_file"] = [str(WEATHER[i % len(WEATHER)]) for i in range(n)]
    return design


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--design", type=Path, help="CSV/Parquet design instead of sampling")
    parser.add_argument("--n", type=int, default=300, help="specs to sample (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", help="directory or s3://bucket/prefix (default: SCYTHE_STORE)")
    parser.add_argument("--workers", type=int, help="embedded processes (default: CPU count)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        design = args.design if args.design else build_design(args.n, args.seed)
        result = allocate(simulate, design, store=args.store, workers=args.workers, progress=not args.quiet)
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
