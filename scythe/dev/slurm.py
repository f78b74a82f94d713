"""A single-node Slurm cluster (munge + slurmctld + slurmd) in a private folder, for trying the
Slurm backend and for its tests.

Debian's `slurm-wlm` and `munge` packages provide the daemons; everything they write (key, socket,
state, spool, logs, pids) lives under one folder and every port is a free one on 127.0.0.1, so
several clusters (several engineers, a test session beside `scythe dev up --slurm`) coexist. The
three daemons run in the foreground as `Service`s (one session each, output to a log, readiness
polled), so `scythe dev up` records and `scythe dev down` stops them like the rest of the stack.
No cgroups (proctrack/linuxproc, task/none) and no accounting database: jobs record their own
outcome in the store. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scythe.dev.processes import Service, SpawnHook, assign_ports, find_binary, port_open
from scythe.errors import DevStackError

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
INSTALL = "apt-get install slurm-wlm munge"
NODE = "localhost"
PARTITION = "debug"
_SBIN = "/usr/sbin:/usr/bin:/sbin:/bin"


def missing_slurm(path: str | None = None) -> list[str]:
    """One line naming the install if any Slurm or munge binary is missing (else [])."""
    search = path if path is not None else f"{os.environ.get('PATH', '')}:{_SBIN}"
    missing = [name for name in SLURM_BINARIES if shutil.which(name, path=search) is None]
    if not missing:
        return []
    return [f"Slurm and munge ({', '.join(missing)} not found): {INSTALL}"]


def check_slurm() -> None:
    """Raise one DevStackError naming the install when Slurm or munge is missing."""
    lines = missing_slurm()
    if lines:
        raise DevStackError(f"a local Slurm needs {lines[0]}; nothing was started")


def _bin(name: str) -> Path:
    found = find_binary(name, path=f"{os.environ.get('PATH', '')}:{_SBIN}")
    if found is None:
        raise DevStackError(f"{name} not found: {INSTALL}")
    return found


@dataclass
class SlurmCluster:
    """A running local cluster: its folder, config file and daemons (stopped newest first)."""

    root: Path
    conf: Path
    cpus: int
    services: list[Service] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """What a shell (or a test) sets to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def _slurm_conf(root: Path, ports: dict[str, int], cpus: int, memory_mb: int, max_array: int) -> str:
    """The whole config: loopback ports, no cgroups, no accounting, every folder under `root`."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    lines = {
        "ClusterName": "scythe-local",
        "SlurmctldHost": NODE,
        "SlurmctldPort": ports["slurmctld"],
        "SlurmdPort": ports["slurmd"],
        "SrunPortRange": f"{ports['srun']}-{ports['srun'] + 20}",
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={root / 'munge' / 'munge.socket'}",
        "CredType": "cred/munge",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "SchedulerType": "sched/backfill",
        "StateSaveLocation": root / "state",
        "SlurmdSpoolDir": root / "spool",
        "SlurmctldPidFile": root / "run" / "slurmctld.pid",
        "SlurmdPidFile": root / "run" / "slurmd.pid",
        "SlurmctldLogFile": root / "log" / "slurmctld.log",
        "SlurmdLogFile": root / "log" / "slurmd.log",
        "SlurmUser": user,
        "SlurmdUser": user,
        "ReturnToService": 2,
        "MpiDefault": "none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "MaxArraySize": max_array,
        "KillWait": 5,
        "SchedulerParameters": "sched_interval=2,batch_sched_delay=0",
        "MinJobAge": 300,
    }
    text = "".join(f"{k}={v}\n" for k, v in lines.items())
    text += f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN\n"
    text += f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO\n"
    return text


def _memory_mb() -> int:
    """The node's memory for slurm.conf, kept under what the machine has (more drains the node)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(256, int(total * 0.9))


def _node_idle(conf: Path) -> bool:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [str(_bin("sinfo")), "-h", "-n", NODE, "-o", "%T"],
            env={**os.environ, "SLURM_CONF": str(conf)},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        return out.strip().rstrip("*") in ("idle", "mixed", "allocated")
    return False


def start_slurm(
    root: Path,
    *,
    cpus: int | None = None,
    max_array_size: int = 100001,
    timeout: float = 60.0,
    on_spawn: SpawnHook | None = None,
) -> SlurmCluster:
    """Start munged, slurmctld and slurmd under a fresh `root`; return once the node takes jobs.

    `on_spawn` sees each daemon the moment its process exists (`scythe dev up` records it). A
    failure stops whatever had started and raises with the failing daemon's log tail.
    """
    check_slurm()
    root = Path(root).resolve()
    shutil.rmtree(root, ignore_errors=True)  # a fresh cluster: no job state from an earlier one
    for sub in ("state", "spool", "log", "run", "munge"):
        (root / sub).mkdir(parents=True, mode=0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    ports = assign_ports({"slurmctld": None, "slurmd": None, "srun": None})
    n_cpus = cpus or os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, ports, n_cpus, _memory_mb(), max_array_size))
    cluster = SlurmCluster(root=root, conf=conf, cpus=n_cpus)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munge = root / "munge"
    daemons: list[tuple[str, list[str | Path], Callable[[], bool]]] = [
        (
            "munged",
            [
                _bin("munged"),
                "-F",
                "-f",
                f"--key-file={key}",
                f"--socket={munge / 'munge.socket'}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'seed'}",
            ],
            lambda: (munge / "munge.socket").exists(),
        ),
        ("slurmctld", [_bin("slurmctld"), "-D", "-f", conf], lambda: port_open(ports["slurmctld"])),
        ("slurmd", [_bin("slurmd"), "-D", "-f", conf, "-N", NODE], lambda: _node_idle(conf)),
    ]
    try:
        for name, argv, ready in daemons:
            service = Service(name=f"slurm-{name}", proc=None, log=root / "log" / f"{name}.out", ports=ports)
            cluster.services.append(service)
            service.start(argv, ready=ready, timeout=timeout, env=env, on_spawn=on_spawn)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def local_slurm(
    root: Path, *, cpus: int | None = None, max_array_size: int = 100001
) -> Iterator[SlurmCluster]:
    """A local cluster for the duration of the block (tests use it once per session; one with a
    small `max_array_size` shows a run cut into several arrays)."""
    cluster = start_slurm(root, cpus=cpus, max_array_size=max_array_size)
    try:
        yield cluster
    finally:
        cluster.stop()


# ----------------------------------------------------------------------------------------------
# `scythe dev up --slurm` / `scythe dev down`: detached, recorded like the rest of the stack

STATE = "slurm.json"  # beside the Hatchet stack's record in the state folder


def up_slurm() -> tuple[str, bool]:
    """Start (or find) the detached local cluster; its `export` lines and whether it was running.

    Each daemon is recorded in the state folder the moment it exists (`stack.recorder`), so a
    start that fails or is killed halfway is finished by `scythe dev down` or the next `up`.
    """
    from scythe.dev import stack

    running = stack.current(STATE)
    if running:
        return stack.exports(running), True
    check_slurm()
    with stack._one_up_at_a_time():
        running = stack.current(STATE)
        if running:
            return stack.exports(running), True
        stack.down(STATE)
        root = stack.state_dir() / "slurm"
        state = stack.DevState(root=str(root))
        try:
            cluster = start_slurm(root, on_spawn=stack.recorder(state, STATE))
        except BaseException:
            with contextlib.suppress(Exception):
                stack.down(STATE)
            raise
        state.env = cluster.env()
        state.ready = True
        stack._save(state, STATE)
        return stack.exports(state), False


def state_file() -> Path:
    from scythe.dev import stack

    return stack.state_dir() / STATE


def down_slurm() -> list[str]:
    """Stop the recorded local cluster; the names of the daemons that were still running."""
    from scythe.dev import stack

    return stack.down(STATE)
