"""Helpers of issue 12's queue and robustness tests: a `scythe` command running in the background
(its output read as it comes, so a test can wait for a line), `scythe status --json`, designs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from conftest import scythe

from scythe.store import open_store

EXPERIMENT = "integration.item_12_experiments:lingering"


class Background:
    """`scythe ARGS` in its own session; stdout and stderr collected line by line by threads."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scythe", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.err)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def transcript(self) -> str:
        return f"--- stdout\n{''.join(self.out)}--- stderr\n{''.join(self.err)}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def until(check: Callable[[], bool], what: str, timeout: float, interval: float = 0.2) -> float:
    """Poll `check` until it holds; the seconds it took. Fails the test after `timeout`."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(interval)  # polling another process's state: there is no event to wait on
    return time.monotonic() - t0


def write_design(path: Path, rows: list[dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def only_run(uri: str) -> str:
    """The prefix of the one run in the store at `uri` (none yet: the empty string)."""
    manifests = [k for k in open_store(uri).list_keys("") if k.endswith("/manifest.yml")]
    assert len(manifests) <= 1, manifests
    return manifests[0].removesuffix("/manifest.yml") if manifests else ""


def status_json(prefix: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = scythe(["status", prefix, "--json"], env, cwd, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout  # one object, one line: what a poller parses
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed
