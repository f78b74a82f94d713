"""What every benchmark shares: child processes, interleaved repetitions, medians, the table.

Each measurement runs in a fresh child process, so contenders never share a heap, a cache or a
warm import. The child times the operation itself (imports and input loading excluded) and prints
one `BENCH-RESULT {json}` line, with its own peak RSS: `VmHWM` of /proc/self/status, the high-water
mark of the child's address space since its exec. (`ru_maxrss`, from `os.wait4` or
`RUSAGE_CHILDREN`, is not used for that: Linux folds the *parent's* RSS at fork time into it, so
after the parent has held a large design every child would report at least that much.)
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
OUT = BENCH / "out"
EXAMPLE_SRC = REPO / "examples" / "building_energy" / "src"
MARKER = "BENCH-RESULT "
Size = Literal["smoke", "full"]


def importable_example() -> None:
    """Make the building-energy example importable in this process (children get PYTHONPATH)."""
    if str(EXAMPLE_SRC) not in sys.path:
        sys.path.insert(0, str(EXAMPLE_SRC))


class BenchError(RuntimeError):
    """A contender failed: its command, exit status and the tail of its output."""


#: Set by `--at REF`: a snapshot of scythe/ (and template/) at a git commit, imported instead of
#: the work tree's, so a benchmark measures one fixed version even while the tree changes.
SOURCE_ENV = "BENCH_SCYTHE_SRC"


def pin_scythe(ref: str) -> tuple[Path, str]:
    """Export scythe/ and template/ at `ref` (read-only on the repository) and import from there."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = OUT / "src" / commit[:12]
    if not (dest / "scythe" / "__init__.py").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "scythe", "template"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    os.environ[SOURCE_ENV] = str(dest)
    sys.path.insert(0, str(dest))
    for name in [m for m in sys.modules if m == "scythe" or m.startswith("scythe.")]:
        del sys.modules[name]
    return dest, commit


def scythe_source() -> str:
    """Where `scythe` is imported from: the pinned snapshot, else the work tree."""
    pinned = os.environ.get(SOURCE_ENV)
    return f"snapshot {pinned}" if pinned else "work tree (uncommitted changes included)"


def child_env(extra: dict[str, str] | None = None, *, scythe_paths: bool = True) -> dict[str, str]:
    """The environment of a child: no developer SCYTHE_* settings, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "HATCHET_", "AWS_"))}
    if scythe_paths:
        pinned = [os.environ[SOURCE_ENV]] if os.environ.get(SOURCE_ENV) else []
        env["PYTHONPATH"] = os.pathsep.join([*pinned, str(REPO), str(EXAMPLE_SRC)])
    else:
        env.pop("PYTHONPATH", None)
    env["SCYTHE_CACHE_DIR"] = str(OUT / "cache")
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


@dataclass
class ChildResult:
    data: dict[str, Any]
    peak_rss_mib: float
    wall: float
    cpu_seconds: float = 0.0


def run_command(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = OUT,
    timeout: float = 3600,
    log: Path | None = None,
    expect_result: bool = True,
) -> ChildResult:
    """Run a child to completion; its result line, its own peak RSS and its wall time."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=OUT) as output:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else child_env(),
            cwd=cwd,
            start_new_session=True,
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    lines = [ln for ln in text.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or (expect_result and not lines):
        tail = "\n".join(text.splitlines()[-40:])
        why = f"exit {proc.returncode}" if wall < timeout else f"timed out after {timeout:.0f} s"
        raise BenchError(f"{' '.join(argv[:4])} …: {why}\n{tail}")
    data = json.loads(lines[-1][len(MARKER) :]) if lines else {}
    peak = data.pop("vm_hwm_mib", None)
    cpu = usage.ru_utime + usage.ru_stime
    return ChildResult(data, peak if peak is not None else usage.ru_maxrss / 1024, wall, cpu)


def run_child(target: str, params: dict[str, Any], **kwargs: Any) -> ChildResult:
    """Run `module:function(**params)` in a fresh interpreter of this environment."""
    argv = [sys.executable, "-P", "-m", "bench.child", target, json.dumps(params)]
    return run_command(argv, **kwargs)


def warm_hatchet_driver(store: str) -> None:
    """A Scythe driver's one-off process costs, paid before its clock as the raw-SDK drivers pay
    theirs: importing the Hatchet backend (hatchet_sdk), and the store's S3 client (botocore
    loads its S3 model: ~0.9 s of CPU here), as the raw-SDK + S3 contender builds its client."""
    import scythe.backends.hatchet  # noqa: F401
    from scythe.settings import get_settings

    get_settings().open_store(store)


def emit(result: dict[str, Any]) -> None:
    """The child's side: print the result line the parent looks for, with the child's peak RSS."""
    print(MARKER + json.dumps({**result, "vm_hwm_mib": peak_rss_so_far_mib()}), flush=True)


def peak_rss_so_far_mib() -> float:
    """This process's peak RSS since its exec (VmHWM), in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@dataclass
class Contender:
    """One way of doing the job: `run(rep)` returns a sample (at least `seconds`)."""

    name: str
    run: Callable[[int], dict[str, Any]]
    note: str = ""
    is_scythe: bool = False
    full_only: bool = False


def for_size(size: Size, contenders: list[Contender]) -> list[Contender]:
    """Smoke runs keep Scythe and the limit only: they prove the code works, quickly."""
    return [c for c in contenders if size == "full" or not c.full_only]


@dataclass
class Comparison:
    """Several contenders at the same job, each measured `reps` times, interleaved."""

    title: str
    contenders: list[Contender]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cold: dict[str, float] = field(default_factory=dict)  # each warm-up's seconds, kept out of the medians

    def measure(self, reps: int, *, warm_up: bool = False) -> Comparison:
        """Round-robin over the contenders, rotating who goes first, so drift hits all alike; with
        `warm_up`, each contender runs once first, kept out of the medians (a fresh worker's first
        run is its imports and connections, not the design under test) and reported as `cold`."""
        self.samples = {c.name: [] for c in self.contenders}
        k = len(self.contenders)
        for contender in self.contenders if warm_up else []:
            self.cold[contender.name] = contender.run(-1)["seconds"]
            print(f"  warm-up  {contender.name}: {self.cold[contender.name]:.3f} s (untimed)", flush=True)
        for rep in range(reps):
            for i in range(k):
                contender = self.contenders[(rep + i) % k]
                sample = contender.run(rep)
                self.samples[contender.name].append(sample)
                extra = f", peak RSS {sample['peak_rss_mib']:.0f} MiB" if "peak_rss_mib" in sample else ""
                print(
                    f"  rep {rep + 1}/{reps}  {contender.name}: {sample['seconds']:.3f} s{extra}", flush=True
                )
        return self

    def median(self, name: str, key: str = "seconds") -> float | None:
        values = [s[key] for s in self.samples[name] if s.get(key) is not None]
        return statistics.median(values) if values else None

    @property
    def scythe(self) -> Contender:
        return next(c for c in self.contenders if c.is_scythe)


@dataclass
class Column:
    """A figure shown per contender: the median of `key`, formatted; `ratio` adds scythe ÷ this."""

    header: str
    key: str
    fmt: str = "{:.3f}"
    ratio: bool = False
    label: str = "time"
    scale: float = 1.0


def render(comparison: Comparison, columns: list[Column]) -> str:
    """The table: one row per contender, medians, and Scythe's figure ÷ the contender's."""
    head = ["contender"]
    for col in columns:
        head.append(col.header)
        if col.ratio:
            head.append(f"scythe ÷ this ({col.label})")
    rows = [head]
    scythe = comparison.scythe.name
    for contender in comparison.contenders:
        row = [contender.name]
        for col in columns:
            value = comparison.median(contender.name, col.key)
            row.append("—" if value is None else col.fmt.format(value * col.scale))
            if col.ratio:
                mine = comparison.median(scythe, col.key)
                row.append("—" if not value or mine is None else f"{mine / value:.2f}×")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    n = len(next(iter(comparison.samples.values()), []))
    lines = [f"== {comparison.title} (median of {n}) =="]
    for j, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {c.name}: {c.note}" for c in comparison.contenders if c.note]
    if notes:
        lines.append("where")
        lines.extend(notes)
    return "\n".join(lines)


@dataclass
class Verdict:
    target: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def line(self) -> str:
        value = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:.3g}"
        return f"target: {self.target}: {'MET' if self.met else 'MISSED'} ({value} vs {self.limit:g})"


@dataclass
class Report:
    """What one benchmark prints and saves."""

    name: str
    size: Size
    tables: list[tuple[Comparison, list[Column]]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        parts = [render(c, cols) for c, cols in self.tables]
        parts.extend(v.line() for v in self.verdicts)
        parts.extend(f"note: {n}" for n in self.notes)
        return "\n".join(parts)

    def save(self) -> Path:
        path = OUT / "results" / f"{self.name}-{self.size}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": self.name,
            "size": self.size,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "scythe": scythe_source(),
            "tables": [
                {
                    "title": c.title,
                    "samples": c.samples,
                    "medians": {
                        x.name: {col.key: c.median(x.name, col.key) for col in cols} for x in c.contenders
                    },
                }
                for c, cols in self.tables
            ],
            "verdicts": [
                {"target": v.target, "value": v.value, "limit": v.limit, "met": v.met} for v in self.verdicts
            ],
            "notes": self.notes,
        }
        path.write_text(json.dumps(payload, indent=2))
        return path


def machine() -> dict[str, Any]:
    """Cores, memory and load, as the results quote them."""
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "mem_gib": round(mem_kib / 1024**2, 1),
        "cpu": cpu,
        "load_avg": os.getloadavg(),
        "python": platform.python_version(),
    }


def fmt_int(n: int) -> str:
    return f"{n:,}"
