"""A private, throw-away Postgres cluster on 127.0.0.1 (the Hatchet engine's database).

Needs Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``), including
``btree_gist``, which the engine's migrations create. Postgres refuses to run as root, so as root
the server runs as the ``postgres`` OS user, which must reach the cluster's folder: nothing here
changes the permissions of a folder it did not create (`private_cluster_dir` makes a reachable
one instead). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scythe.dev.processes import LOOPBACK, Service, SpawnHook, free_ports, run
from scythe.errors import DevStackError

#: Debian's layout: one folder per major version, e.g. /usr/lib/postgresql/15/bin.
PG_ROOT = Path("/usr/lib/postgresql")
#: What is used from that folder: the server, cluster creation, and the clients for databases.
PG_COMMANDS = ("postgres", "initdb", "psql", "createdb")
#: The OS user the server runs as when we are root (Debian's postgresql package creates it).
PG_OS_USER = "postgres"
#: Where `private_cluster_dir` makes its folders, and how it names them.
CLUSTER_BASE = Path("/var/tmp")
CLUSTER_PREFIX = "scythe-dev-pg-"


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

    def database_names(self) -> list[str]:
        return run(
            [
                self.bin_dir / "psql",
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-Atc",
                "select datname from pg_database",
            ],
            what="psql",
        ).split()

    def create_database(self, name: str) -> None:
        run(
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
    on_spawn: SpawnHook | None = None,
) -> PostgresService:
    """Start a private Postgres cluster in ``dir`` on 127.0.0.1:``port`` (free port if None).

    trust auth, UTF-8, C.UTF-8 locale, timezone UTC, max_connections 200 (the engine opens up to
    three pools of 50). Reuses an existing data dir. As root, runs as the ``postgres`` OS user
    (Postgres refuses to run as root); then ``dir`` is chowned to it, and every parent of ``dir``
    must already be searchable by that user (checked, never changed: see `private_cluster_dir`).
    fsync is off: the data is throw-away.
    """
    dir = Path(dir).resolve()
    bin_dir = _pg_bin_dir()
    port = port or free_ports(1)[0]
    run_as = server_os_user()
    _prepare_dir(dir, run_as)
    data = dir / "data"
    _init_cluster(bin_dir, data, run_as)

    def create_missing(svc: PostgresService) -> None:
        existing = svc.database_names()
        for db in databases:
            if db not in existing:
                svc.create_database(db)

    # Postgres itself is the child: SIGINT = "fast" shutdown (disconnect clients, checkpoint).
    svc = PostgresService(
        name="postgres",
        proc=None,
        log=dir / "postgres.log",
        ports={"postgres": port},
        _stop_signal=signal.SIGINT,
        _stop_grace=20.0,
        bin_dir=bin_dir,
        socket_dir=dir,
    )
    return svc.start(
        _postgres_argv(bin_dir, data, port=port, socket_dir=dir, max_connections=max_connections),
        user=run_as,
        ready=lambda: _pg_accepts_queries(port, "postgres"),
        timeout=timeout,
        then=create_missing,
        on_spawn=on_spawn,
    )


def server_os_user() -> str | None:
    """The OS user the server runs as: ``postgres`` when we are root, else None (ourselves)."""
    return PG_OS_USER if os.geteuid() == 0 else None


def private_cluster_dir(base: Path | None = None) -> Path:
    """A new folder for a cluster that the server's OS user can reach, without touching any
    folder we did not create: as root, a fresh ``scythe-dev-pg-*`` folder under ``base`` (default
    /var/tmp, which every user can traverse), mode 0700 and owned by ``postgres``; mkdtemp makes
    it, so no other user can have prepared or linked it. Not root: there is no other user to let
    in, so use a folder of your own instead (this raises)."""
    run_as = server_os_user()
    if run_as is None:
        raise DevStackError("private_cluster_dir is for a server run as another OS user (root only)")
    pw = pwd.getpwnam(run_as)
    made = Path(tempfile.mkdtemp(prefix=CLUSTER_PREFIX, dir=base or CLUSTER_BASE))
    os.chown(made, pw.pw_uid, pw.pw_gid)
    return made


def find_pg_bin_dir(*, pg_root: Path = PG_ROOT, path: str | None = None) -> Path | None:
    """The newest ``<pg_root>/<major>/bin`` (Debian layout) holding every command of
    `PG_COMMANDS`, else the folder ``pg_config --bindir`` names if it holds them; None if neither."""
    cands = sorted(
        (p for p in pg_root.glob("*/bin") if _has_commands(p)),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if cands:
        return cands[-1]
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30)
            bindir = Path(out.stdout.strip())
            if out.returncode == 0 and _has_commands(bindir):
                return bindir
    return None


def _has_commands(bin_dir: Path) -> bool:
    return all((bin_dir / c).is_file() for c in PG_COMMANDS)


def _pg_bin_dir() -> Path:
    found = find_pg_bin_dir()
    if found is None:
        raise DevStackError("no Postgres server found: apt-get install postgresql")
    return found


def _prepare_dir(dir: Path, run_as: str | None) -> None:
    """Create ``dir``; when the server runs as ``run_as``, hand it over and check it is reachable."""
    dir.mkdir(parents=True, exist_ok=True)
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(dir, pw.pw_uid, pw.pw_gid)
        _check_traversable(dir.parent, pw.pw_uid, pw.pw_gid)


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


def _init_cluster(bin_dir: Path, data: Path, run_as: str | None) -> None:
    """initdb ``data`` unless it already holds a cluster."""
    if (data / "PG_VERSION").exists():
        return
    run(
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


def _postgres_argv(
    bin_dir: Path, data: Path, *, port: int, socket_dir: Path, max_connections: int
) -> list[str | os.PathLike[str]]:
    return [
        bin_dir / "postgres",
        "-D",
        data,
        "-c",
        f"listen_addresses={LOOPBACK}",
        "-p",
        str(port),
        "-c",
        f"unix_socket_directories={socket_dir}",
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
    ]


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
