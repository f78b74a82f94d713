"""`scythe worker` processes an issue-12 test starts with its own options and environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from integration.conftest import Stack
from scythe.dev.processes import start_worker_process


class Workers:
    """`scythe worker` processes a test starts, stopped when it ends (whatever the outcome)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        log = self.stack.root / f"item-12-worker-{os.getpid()}-{len(self.procs)}.log"
        argv = [sys.executable, "-m", "scythe", "worker", *args]
        self.procs.append(start_worker_process(argv, log=log, env=env or self.stack.env, what=" ".join(args)))

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture
def workers(stack_env: Stack) -> Iterator[Workers]:
    started = Workers(stack_env)
    try:
        yield started
    finally:
        started.stop()
