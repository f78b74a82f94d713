"""Issue 14 item 7: `scythe logs RUN [--spec N]` shows what specs logged and printed."""

from __future__ import annotations

import io
import time
from pathlib import Path

from item_14_07_experiments import chatty
from typer.testing import CliRunner

from scythe import allocate
from scythe.cli import app
from scythe.run import spec_logs

BIG = 200_000  # characters one spec prints: more than the 64 KiB kept


def logs(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["logs", *args])
    return result.exit_code, result.stdout, result.stderr


def test_item_07_logs_show_each_specs_own_words(store: Path) -> None:
    design = [
        {"words": 1},
        {"words": 0},  # says nothing
        {"words": 1, "fail": True},  # its words are kept though it fails
        {"words": BIG},
        {"words": 1},
    ]
    result = allocate(chatty, design, store=str(store), workers=2, batch_size=2, progress=False)
    assert (result.succeeded, result.failed) == (4, 1)
    run = result.run.run_id

    code, text, _ = logs(run, "--spec", "0", "--store", str(store))
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "printed by spec 0"
    assert lines[1].endswith("INFO [spec 0] logged by spec 0")  # input_spec.log, with its time and level
    assert len(lines) == 2

    code, text, _ = logs(run, "--spec", "2", "-s", str(store))
    assert (code, text.splitlines()[0]) == (0, "printed by spec 2")

    code, text, _ = logs(run, "--spec", "3", "-s", str(store))
    cut = (
        BIG + len("printed by spec 3\n") + len("logged by spec 3") + 40 + 1 - spec_logs.LIMIT
    )  # ~40: the log line's time and level
    first, kept = text.split("\n", 1)
    assert first.startswith("[… ")
    assert "characters cut: this spec's last 65536 follow]" in first
    assert abs(int(first.split()[1]) - cut) < 40
    assert kept == "x" * (spec_logs.LIMIT - 1) + "!\n"  # the last 64 KiB, as printed (a newline added)
    stored = store / result.run.prefix / "scatter-gather/results/000001/log.txt"
    assert stored.stat().st_size < spec_logs.LIMIT + 1024  # one chatty spec cannot fill the store

    code, text, said = logs(run, "--spec", "1", "-s", str(store))
    assert (code, text) == (0, "")
    assert "spec 1 of " in said
    assert "logged and printed nothing" in said
    code, _, said = logs(run, "--spec", "5", "-s", str(store))
    assert code == 1
    assert "has specs 0–4, not 5" in said

    code, text, _ = logs(result.run.prefix, "--store", str(store))  # the whole run, spec by spec
    assert code == 0
    headers = [line for line in text.splitlines() if line.startswith("── spec")]
    assert headers == [
        "── spec 0 (batch 0) ──",
        "── spec 2 (batch 1) ──",
        "── spec 3 (batch 1) ──",
        "── spec 4 (batch 2) ──",
    ]
    assert "printed by spec 4" in text


def test_item_07_a_silent_spec_costs_no_header_and_under_a_microsecond() -> None:
    log = io.StringIO()
    n = 100_000
    began = time.perf_counter()
    for i in range(n):
        with spec_logs.section(log, i):
            pass
    per_spec = (time.perf_counter() - began) / n
    assert log.getvalue() == ""
    assert per_spec < 5e-6, f"{per_spec * 1e6:.2f} µs a spec"  # measured ~0.3 µs; a no-op spec costs ~100 µs
    with spec_logs.section(log, 7):
        log.write("no newline")
    assert spec_logs.split(log.getvalue()) == ("", {7: "no newline\n"})
