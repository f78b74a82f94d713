"""Issue 12 item 4: an engine or database restart mid-run loses nothing and duplicates nothing.

A waiting `scythe run` is under way (a few batches committed) when hatchet-lite is killed (-9),
or Postgres is shut down; the service stays down until the waiting command has said that the
engine is unreachable, then starts again on the same database, folder and ports. The command
rides it out: exit 0, every spec in scalars.pq exactly once, one commit record per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from integration.conftest import Stack
from integration.item_12_cli import EXPERIMENT, Background, only_run, until, write_design
from scythe.results import load
from scythe.store import open_store

N_SPECS, BATCH = 120, 4  # 30 batches of 0.4 s of specs on 2 slots: ~10 s of work
UNREACHABLE = "the Hatchet engine is unreachable"


def commits(uri: str) -> int:
    prefix = only_run(uri)
    keys = open_store(uri).list_keys(prefix) if prefix else []
    return sum(k.endswith("_SUCCESS.json") for k in keys)


def ride_out(stack: Stack, tmp_path: Path, name: str, restart: Callable[[Background], None]) -> None:
    stack.start_worker(EXPERIMENT, slots=2, log_name=name)
    uri = stack.store(name)
    env = {**stack.env, "SCYTHE_STORE": uri}
    rows = [{"x": float(i), "seconds": 0.1} for i in range(N_SPECS)]
    design = write_design(tmp_path / "design.csv", rows)
    args = ["run", EXPERIMENT, "-d", str(design), "--backend", "hatchet", "--batch-size", str(BATCH)]
    cli = Background(args, env, tmp_path)
    try:
        until(lambda: commits(uri) >= 3 or cli.proc.poll() is not None, "a few batches", timeout=120)
        assert cli.proc.poll() is None, cli.transcript()  # still under way when the service goes
        restart(cli)
        code = cli.wait(timeout=180)
    finally:
        cli.stop()
    assert code == 0, cli.transcript()
    assert f"specs    {N_SPECS}  ok {N_SPECS}  failed 0" in "".join(cli.out), cli.transcript()
    assert cli.said("the Hatchet engine answers again")
    prefix = only_run(uri)
    scalars = load(prefix, store=uri)["scalars"]
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(N_SPECS))  # once each
    assert sorted(scalars["y"]) == [float(i) + 1 for i in range(N_SPECS)]
    assert commits(uri) == N_SPECS // BATCH


@pytest.mark.timeout(400)
def test_item_12_04_an_engine_restart_mid_run_loses_and_duplicates_nothing(
    stack_env: Stack, tmp_path: Path
) -> None:
    ride_out(
        stack_env,
        tmp_path,
        "engine-restart",
        lambda cli: stack_env.restart_engine(down_until=lambda: cli.said(UNREACHABLE)),
    )


@pytest.mark.timeout(400)
def test_item_12_04_a_postgres_restart_mid_run_loses_and_duplicates_nothing(
    stack_env: Stack, tmp_path: Path
) -> None:
    ride_out(
        stack_env,
        tmp_path,
        "postgres-restart",
        lambda cli: stack_env.restart_postgres(down_until=lambda: cli.said(UNREACHABLE)),
    )
