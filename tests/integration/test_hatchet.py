"""The Hatchet backend on a real engine + S3: same results as the embedded default, and robust."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from integration.conftest import Stack
from scythe import allocate
from scythe.results import load
from scythe.store import open_store

STRIP = ["experiment_id", "root_workflow_run_id"]


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(STRIP, drop=True), want.reset_index(STRIP, drop=True))


def committed(uri: str, prefix: str) -> int:
    store = open_store(uri)
    return sum(k.endswith("_SUCCESS.json") for k in store.list_keys(f"{prefix}/scatter-gather/results"))


def wait_for(predicate, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_building_energy_2000_specs_match_embedded(stack_env: Stack, tmp_path: Path) -> None:
    from building_energy.experiment import simulate
    from conftest import example_design

    stack_env.start_worker("building_energy.experiment:simulate", slots=2)
    design = example_design(2000)
    uri = stack_env.store("energy")
    remote = allocate(simulate, design, store=uri, backend="hatchet", progress=False)
    local_store = str(tmp_path / "local")
    local = allocate(simulate, design, store=local_store, backend="embedded", workers=2, progress=False)
    assert (remote.succeeded, remote.failed) == (2000, 0)
    got, want = load(remote.run.prefix, store=uri), load(local.run.prefix, store=local_store)
    assert set(got) == set(want) == {"scalars", "errors", "monthly", "timings"}  # errors: always there
    assert got["errors"].empty
    assert want["errors"].empty
    same(
        got["scalars"].reset_index("weather_file", drop=True),
        want["scalars"].reset_index("weather_file", drop=True),
    )
    assert got["scalars"].index.get_level_values("weather_file").str.startswith(uri).all()
    store = open_store(uri)
    secrets = [
        stack_env.env["AWS_SECRET_ACCESS_KEY"].encode(),
        stack_env.env["HATCHET_CLIENT_TOKEN"].encode(),
    ]
    for key in store.list_keys(remote.run.prefix):  # manifests, logs, shards: no credential anywhere
        body = store.get_bytes(key)
        assert not any(secret in body for secret in secrets), key
    roots = set(got["scalars"].index.get_level_values("root_workflow_run_id"))
    assert len(roots) == 1
    assert roots != {remote.run.run_id}  # the Hatchet root run, not the run id


def test_always_raising_spec_lands_in_errors_after_retries(stack_env: Stack) -> None:
    from sample_experiments import stubborn

    stack_env.start_worker("sample_experiments:stubborn", slots=2)
    uri = stack_env.store("stubborn")
    design = pd.DataFrame({"x": [float(i) for i in range(30)]})
    result = allocate(stubborn, design, store=uri, backend="hatchet", progress=False)
    assert (result.succeeded, result.failed) == (29, 1)
    errors = load(result.run.prefix, store=uri)["errors"].reset_index()
    assert errors[["sort_index", "error_type", "attempts"]].values.tolist() == [[13, "RuntimeError", 3]]


def test_item_05_06_a_crashing_or_runaway_spec_fails_alone_on_hatchet(stack_env: Stack) -> None:
    """Hatchet slots are threads: the spec process (from a fork server) is what isolates and times
    out, exactly as on the embedded backend."""
    from sample_experiments import doomed

    stack_env.start_worker("sample_experiments:doomed", slots=2)
    uri = stack_env.store("doomed")
    doom = {1: "segfault", 4: "swallow", 6: "exit"}
    design = [{"x": float(i), "how": doom.get(i, "ok")} for i in range(8)]
    result = allocate(doomed, design, store=uri, backend="hatchet", batch_size=4, progress=False)
    assert (result.succeeded, result.failed) == (5, 3)
    errors = load(result.run.prefix, store=uri)["errors"].reset_index().set_index("sort_index")
    assert errors["error_type"].to_dict() == {1: "WorkerDied", 4: "Timeout", 6: "WorkerDied"}
    assert "signal 11 (SIGSEGV)" in errors.loc[1, "message"]


def test_worker_killed_mid_run_is_retried_and_every_spec_lands_once(stack_env: Stack) -> None:
    from sample_experiments import stubborn

    doomed = stack_env.start_worker("sample_experiments:stubborn", slots=2, log_name="doomed")
    uri = stack_env.store("kill")
    n = 200
    design = pd.DataFrame({"x": [float(20 + i % 80) for i in range(n)], "mode": ["slow"] * n})
    run = allocate(stubborn, design, store=uri, backend="hatchet", progress=False, wait=False)
    wait_for(lambda: committed(uri, run.run.prefix) >= 3, "a few batches")
    stack_env.kill(doomed)
    stack_env.start_worker("sample_experiments:stubborn", slots=2, log_name="survivor")
    from scythe.backends.hatchet.monitor import wait_for_gather
    from scythe.run.manifest import read_manifest

    store = open_store(uri)  # Hatchet notices the dead worker and retries its batches elsewhere
    summary = wait_for_gather(store, run.run, read_manifest(store, run.run), progress=False)
    assert (summary.succeeded, summary.failed) == (n, 0)
    scalars = load(run.run.prefix, store=uri)["scalars"]
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(n))


def test_s3_outage_mid_run_is_ridden_out(stack_env: Stack) -> None:
    from sample_experiments import stubborn

    stack_env.start_worker("sample_experiments:stubborn", slots=2)
    uri = stack_env.store("outage")
    n = 150
    design = pd.DataFrame({"x": [float(20 + i % 80) for i in range(n)], "mode": ["slow"] * n})
    run = allocate(stubborn, design, store=uri, backend="hatchet", progress=False, wait=False)
    wait_for(lambda: committed(uri, run.run.prefix) >= 2, "a couple of batches")
    stack_env.restart_s3(down_seconds=4)
    from scythe.backends.hatchet.monitor import wait_for_gather
    from scythe.run.manifest import read_manifest

    store = open_store(uri)
    summary = wait_for_gather(store, run.run, read_manifest(store, run.run), progress=False)
    assert (summary.succeeded, summary.failed) == (n, 0)
    scalars = load(run.run.prefix, store=uri)["scalars"]
    assert sorted(scalars.index.get_level_values("sort_index")) == list(range(n))
