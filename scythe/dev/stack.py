"""The whole local stack (Postgres, S3, Hatchet): `dev_stack` for tests, `up`/`down` for a shell.

`dev_stack` is a context manager: it starts the three services and stops them on exit. `up` (what
`scythe dev up` calls) starts them detached (they outlive the command), records them in a state
file and prints `export` lines, so `eval "$(scythe dev up)"` configures a shell. A second `up`
reuses the running stack. The credentials are local, throw-away ones for the loopback servers only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path

import boto3
from pydantic import BaseModel

from scythe.dev.engine import DEFAULT_ENGINE_VERSION, ensure_engine_built
from scythe.dev.hatchet import HatchetService, start_hatchet
from scythe.dev.postgres import PostgresService, start_postgres
from scythe.dev.processes import wait_until
from scythe.dev.seaweed import SeaweedService, start_seaweed
from scythe.errors import ScytheError

BUCKET = "scythe"


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


# ----------------------------------------------------------------------------------------------
# `scythe dev up|down`: detached services, recorded in a state file


class DevState(BaseModel):
    root: str
    pids: dict[str, int]
    env: dict[str, str]


def state_dir() -> Path:
    return Path(os.environ.get("SCYTHE_DEV_DIR", Path.home() / ".cache" / "scythe" / "dev"))


def _state_file() -> Path:
    return state_dir() / "state.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current() -> DevState | None:
    path = _state_file()
    if not path.is_file():
        return None
    state = DevState.model_validate_json(path.read_text())
    return state if all(_alive(p) for p in state.pids.values()) else None


def up(engine_version: str = DEFAULT_ENGINE_VERSION) -> DevState:
    """Start (or find) the stack and return its state."""
    running = current()
    if running:
        return running
    down()  # a half-dead stack from before
    root = state_dir() / "services"
    root.mkdir(parents=True, exist_ok=True)
    for folder in (root, *root.parents):  # Postgres runs as `postgres` and must reach its folder
        if folder == Path("/"):
            break
        with contextlib.suppress(PermissionError):
            folder.chmod(folder.stat().st_mode | 0o011)
    bin_dir = ensure_engine_built(engine_version)
    pg = start_postgres(root / "pg")
    s3 = start_seaweed(root / "s3")
    hatchet = start_hatchet(root / "hatchet", pg.url("hatchet"), bin_dir=bin_dir, version=engine_version)
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    env = {
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        **hatchet.client_env(),
        "SCYTHE_STORE": f"s3://{BUCKET}/runs",
        "SCYTHE_BACKEND": "hatchet",
    }
    pids = {s.name: s.proc.pid for s in (pg, s3, hatchet) if s.proc is not None}
    state = DevState(root=str(root), pids=pids, env=env)
    _state_file().write_text(state.model_dump_json(indent=2))
    _state_file().chmod(0o600)
    return state


def down() -> bool:
    """Stop the stack; True if something was running."""
    path = _state_file()
    if not path.is_file():
        return False
    state = DevState.model_validate_json(path.read_text())
    for pid in reversed(list(state.pids.values())):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    for pid in state.pids.values():
        with contextlib.suppress(ScytheError):
            wait_until(lambda p=pid: not _alive(p), "stop", timeout=20)  # type: ignore[misc]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    path.unlink()
    return True


def exports(state: DevState) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in state.env.items())
