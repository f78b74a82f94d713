"""`python -m bench.run [--size smoke|full] [--only NAME ...] [--reps N]`: run benchmarks, print tables.

Each benchmark prints one table per job: every contender's median figure and Scythe's figure ÷
the contender's (above 1: Scythe is slower / bigger by that factor), then its targets, met or
missed. Raw samples go to bench/out/results/<name>-<size>.json.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence

from bench.common import BenchError, Size, machine, pin_scythe, scythe_source

#: name → module; `hatchet` and `cores` need the local stack (Postgres, SeaweedFS, Hatchet engine).
BENCHMARKS = {
    "embedded": "bench.embedded",
    "allocation": "bench.allocation",
    "gather": "bench.gather",
    "scaffold": "bench.scaffold",
    "hatchet": "bench.fanout",
    "granularity": "bench.granularity",
    "cores": "bench.cores",
    "shape": "bench.shape",
}
WITHOUT_SERVICES = ("embedded", "allocation", "gather", "scaffold", "granularity")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["smoke", "full"], default="smoke")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        help="run only this benchmark (repeatable); default: all",
    )
    parser.add_argument(
        "--skip", action="append", choices=sorted(BENCHMARKS), default=[], help="leave one out"
    )
    parser.add_argument("--reps", type=int, help="repetitions per contender (default: 1 smoke, 3 full)")
    parser.add_argument(
        "--at",
        metavar="REF",
        help="measure scythe as committed at this git ref (e.g. HEAD), not the work tree",
    )
    args = parser.parse_args(argv)
    if args.at:
        pin_scythe(args.at)
    size: Size = args.size
    reps = args.reps or (1 if size == "smoke" else 3)
    names = [n for n in (args.only or list(BENCHMARKS)) if n not in args.skip]
    info = machine()
    print(
        f"# bench --size {size}, {reps} rep(s); {info['affinity']} cores, {info['mem_gib']} GiB, "
        f"{info['cpu']}, Python {info['python']}, load {info['load_avg'][0]:.2f}",
        flush=True,
    )
    print(f"# scythe from the {scythe_source()}", flush=True)
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"\n## {name}", flush=True)
        try:
            report = importlib.import_module(BENCHMARKS[name]).run(size, reps)
        except BenchError as exc:
            print(f"error: {name} failed: {exc}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        print(report.text())
        path = report.save()
        print(f"({name}: {time.perf_counter() - started:.0f} s; samples in {path})", flush=True)
    if failed:
        print(f"error: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
