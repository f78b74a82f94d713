"""The whole local stack (Postgres, S3, Hatchet): `dev_stack` for tests, `up`/`down` for a shell.

`dev_stack` is a context manager: it starts the three services and stops them on exit. `up` (what
`scythe dev up` calls) starts them detached (they outlive the command) and prints `export` lines,
so `eval "$(scythe dev up)"` configures a shell; a second `up` reuses the running stack.

`up` checks every prerequisite before it builds or starts anything, and records each service in
the state folder the moment its process exists, not once all are up: a start that fails stops what
it had started, and one killed halfway leaves a record that `down` (or the next `up`) finishes.
Each start gets a new Postgres cluster and engine config (SeaweedFS's data, the runs, is kept);
nothing outside the state folder changes mode (as root the cluster lives in a private folder of
its own, see `scythe.dev.postgres.private_cluster_dir`). The credentials are local, throw-away
ones for the loopback servers only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
from pydantic import BaseModel

from scythe.dev.engine import DEFAULT_ENGINE_VERSION, engine_bin_dir, ensure_engine_built, is_built
from scythe.dev.hatchet import HatchetService, start_hatchet
from scythe.dev.postgres import (
    CLUSTER_BASE,
    CLUSTER_PREFIX,
    PostgresService,
    private_cluster_dir,
    server_os_user,
    start_postgres,
)
from scythe.dev.prerequisites import check_prerequisites
from scythe.dev.processes import Service, process_start_time, wait_until
from scythe.dev.seaweed import SeaweedService, start_seaweed
from scythe.errors import DevStackError, ScytheError

BUCKET = "scythe"
_DEFAULT_STOP = (int(signal.SIGTERM), 20.0)  # for a record that names no stop plan


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
# `scythe dev up|down`: detached services, recorded in a state file as they start


class DevState(BaseModel):
    """The state folder's record of a stack: rewritten whenever a service spawns, so it always
    names every process `up` started, even when `up` died before the stack was ready."""

    root: str
    pids: dict[str, int] = {}
    #: each pid's process start time (`process_start_time`): a pid reused by an unrelated process
    #: since is not ours, and is never signalled
    started: dict[str, int] = {}
    #: how each is stopped: (polite signal to its leader, seconds before SIGKILL to its group)
    stop: dict[str, tuple[int, float]] = {}
    #: the Postgres cluster's folder (as root it is outside the state folder), removed by `down`
    cluster_dir: str | None = None
    env: dict[str, str] = {}
    ready: bool = False


def state_dir() -> Path:
    return Path(os.environ.get("SCYTHE_DEV_DIR", Path.home() / ".cache" / "scythe" / "dev"))


STATE = "state.json"  # the Hatchet stack's record; the local Slurm keeps its own (`dev.slurm`)


def _state_file(name: str = STATE) -> Path:
    return state_dir() / name


def _load(name: str = STATE) -> DevState | None:
    path = _state_file(name)
    if not path.is_file():
        return None
    try:
        return DevState.model_validate_json(path.read_text())
    except ValueError as exc:
        raise DevStackError(f"{path} is not a state file of `scythe dev up` ({exc}); remove it") from None


def _save(state: DevState, name: str = STATE) -> None:
    """Write the state whole (write, then rename), readable by its owner only: it holds the token."""
    path = _state_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(state.model_dump_json(indent=2))
    tmp.replace(path)


def _alive(state: DevState, name: str) -> bool:
    """Whether the process recorded as ``name`` still runs (the same process, not a reused pid)."""
    now = process_start_time(state.pids[name])
    return now is not None and now == state.started.get(name, now)


def current(name: str = STATE) -> DevState | None:
    """The running stack, if one is fully up (a half-started or half-dead one is not)."""
    state = _load(name)
    if state is None or not state.ready or not state.pids:
        return None
    return state if all(_alive(state, name) for name in state.pids) else None


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)  # stdout carries only the `export` lines


def up(engine_version: str = DEFAULT_ENGINE_VERSION, *, say: Callable[[str], None] = _to_stderr) -> DevState:
    """Start (or find) the stack and return its state; ``say`` tells what is under way.

    Order matters for a user: prerequisites first (all missing ones in one error, before any
    build), then what a failed or killed earlier start left behind, then the engine build, then
    the services. A failure stops every service this call started and leaves no record.
    """
    running = current()
    if running:
        return running
    check_prerequisites(engine_version)
    with _one_up_at_a_time():
        running = current()  # another `up` may have finished while this one waited
        if running:
            return running
        down()
        if not is_built(engine_bin_dir(engine_version)):
            say(f"building the Hatchet engine {engine_version} with Go (first use only; ~6-7 min) …")
        bin_dir = ensure_engine_built(engine_version)
        say("starting Postgres, SeaweedFS (S3) and Hatchet …")
        return _start(bin_dir, engine_version)


@contextlib.contextmanager
def _one_up_at_a_time() -> Iterator[None]:
    """An exclusive lock on the state folder: two `up`s at once would each start a stack, and
    the second record would orphan the first."""
    state_dir().mkdir(parents=True, exist_ok=True)
    with open(state_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(bin_dir: Path, engine_version: str) -> DevState:
    root = state_dir() / "services"
    root.mkdir(parents=True, exist_ok=True)
    state = DevState(root=str(root))
    record = recorder(state)
    try:
        with contextlib.ExitStack() as started:  # unwound (each service stopped) on failure only
            state.cluster_dir = str(_fresh_cluster_dir(root))
            _save(state)
            pg = started.enter_context(start_postgres(Path(state.cluster_dir), on_spawn=record))
            s3 = started.enter_context(start_seaweed(root / "s3", on_spawn=record))
            shutil.rmtree(root / "hatchet" / "config", ignore_errors=True)  # keys of the old database
            hatchet = started.enter_context(
                start_hatchet(
                    root / "hatchet",
                    pg.url("hatchet"),
                    bin_dir=bin_dir,
                    version=engine_version,
                    on_spawn=record,
                )
            )
            _create_bucket(s3)
            state.env = _exports_env(s3, hatchet)
            state.ready = True
            _save(state)
            started.pop_all()
    except BaseException:
        with contextlib.suppress(ScytheError, OSError):  # the failure itself is what to report
            down()  # whatever the handles did not stop, the cluster folder, the record
        raise
    return state


def recorder(state: DevState, name: str = STATE) -> Callable[[Service], None]:
    """An `on_spawn` hook saving each service into `state` (file `name`) the moment it exists."""

    def record(svc: Service) -> None:
        assert svc.proc is not None
        state.pids[svc.name] = svc.proc.pid
        state.started[svc.name] = process_start_time(svc.proc.pid) or -1
        state.stop[svc.name] = svc.stop_plan
        _save(state, name)

    return record


def _fresh_cluster_dir(root: Path) -> Path:
    """A folder for a new cluster: ``root/pg`` when Postgres runs as us; as root (it runs as the
    ``postgres`` user, who may not reach into our home) a new private folder outside it."""
    shutil.rmtree(root / "pg", ignore_errors=True)
    return root / "pg" if server_os_user() is None else private_cluster_dir()


def _create_bucket(s3: SeaweedService) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)


def _exports_env(s3: SeaweedService, hatchet: HatchetService) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        **hatchet.client_env(),
        "SCYTHE_STORE": f"s3://{BUCKET}/runs",
        "SCYTHE_BACKEND": "hatchet",
    }


def down(record: str = STATE) -> list[str]:
    """Stop every process the state folder records, newest first, and forget the stack.

    Returns the names of those that were still running (empty: nothing was). Works on the record
    of a start that failed or was killed halfway too, and removes that start's cluster folder.
    Each is stopped as `Service.stop` would: the polite signal to its leader (Postgres then shuts
    its own children down in order), SIGKILL to its whole group after the grace period.
    """
    state = _load(record)
    if state is None:
        return []
    running = [name for name in reversed(list(state.pids)) if _alive(state, name)]
    for name in running:
        sig, _ = state.stop.get(name, _DEFAULT_STOP)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(state.pids[name], sig)
    for name in running:
        _, grace = state.stop.get(name, _DEFAULT_STOP)
        with contextlib.suppress(ScytheError):
            wait_until(lambda n=name: not _alive(state, n), f"stop {name}", timeout=grace)  # type: ignore[misc]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(state.pids[name], signal.SIGKILL)  # each service leads its own session
    _remove_cluster(state)
    _state_file(record).unlink(missing_ok=True)
    return running


def _remove_cluster(state: DevState) -> None:
    """Delete the recorded cluster folder, if it is one `_fresh_cluster_dir` can have made (a
    state file is never trusted to name an arbitrary folder for deletion)."""
    if state.cluster_dir is None:
        return
    cluster = Path(state.cluster_dir)
    if cluster == Path(state.root) / "pg" or (
        cluster.name.startswith(CLUSTER_PREFIX) and cluster.parent == CLUSTER_BASE
    ):
        shutil.rmtree(cluster, ignore_errors=True)


def exports(state: DevState) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in state.env.items())
