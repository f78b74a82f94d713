"""The Hatchet engine as hatchet-lite (API + engine + static file server in one process).

Runs the binaries `scythe.dev.engine` builds against a database `scythe.dev.postgres` serves:
migrate, write the config (quickstart), mint a token for the seeded tenant, start, wait until
ready. Standard library only.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scythe.dev.engine import DEFAULT_ENGINE_VERSION, ensure_engine_built
from scythe.dev.processes import (
    LOOPBACK,
    Service,
    SpawnHook,
    assign_ports,
    http_status,
    port_open,
    run,
)
from scythe.errors import DevStackError

#: The tenant that ``hatchet-admin quickstart`` seeds (DatabaseConfig.DefaultTenantID).
DEFAULT_TENANT_ID = "707d0855-80ab-4e1f-a156-f1c4546cbf52"


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
    on_spawn: SpawnHook | None = None,
) -> HatchetService:
    """Migrate ``pg_url``, write config (quickstart), mint a token, start hatchet-lite.

    Returns once ``GET /api/ready`` (API) and ``GET /ready`` (health port: queue + DB) are 200.
    ``.token`` holds the API token for the seeded default tenant; ``client_env()`` gives the SDK
    environment. Every port is on 127.0.0.1: gRPC through its bind-address setting; the API,
    health, static and proxy servers, which the engine hard-codes to every interface, because
    `scythe.dev.engine` builds hatchet-lite with those listen addresses patched to loopback.
    """
    dir = Path(dir).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(bin_dir) if bin_dir else ensure_engine_built(version)
    ports = assign_ports(
        {
            "api": api_port,
            "grpc": grpc_port,
            "health": health_port,
            "frontend": frontend_port,
            "runtime": runtime_port,
        }
    )
    env = _engine_env(pg_url, ports, static=_write_static(dir), extra_env=extra_env)
    config_dir = dir / "config"
    t0 = time.monotonic()
    _migrate_and_configure(bin_dir, env, cwd=dir, config_dir=config_dir)
    token = _create_token(bin_dir, env, cwd=dir, config_dir=config_dir)

    def once_ready(svc: HatchetService) -> None:
        svc.ready_seconds = time.monotonic() - t0  # counted from the migration on
        _check_version(ports["health"], version)

    svc = HatchetService(
        name="hatchet-lite",
        proc=None,
        log=dir / "hatchet.log",
        ports=ports,
        _stop_grace=20.0,
        token=token,
        version=version,
    )
    return svc.start(
        [bin_dir / "hatchet-lite", "--config", config_dir],
        env=env,
        cwd=dir,
        ready=lambda: _hatchet_ready(ports),
        timeout=timeout,
        then=once_ready,
        on_spawn=on_spawn,
    )


def _write_static(dir: Path) -> Path:
    """The static asset folder hatchet-lite serves (a stub page: no frontend is needed)."""
    static = dir / "static"
    static.mkdir(exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>hatchet</title>\n")
    return static


def _engine_env(
    pg_url: str, ports: dict[str, int], *, static: Path, extra_env: Mapping[str, str] | None
) -> dict[str, str]:
    """The environment of every engine command: database, ports, and every phone-home off."""
    grpc_addr = f"{LOOPBACK}:{ports['grpc']}"
    return {
        **os.environ,
        "DATABASE_URL": pg_url,
        "DATABASE_ENFORCE_UTC_TIMEZONE": "true",
        "SERVER_MSGQUEUE_KIND": "postgres",
        "SERVER_PORT": str(ports["api"]),
        "SERVER_URL": f"http://{LOOPBACK}:{ports['api']}",
        "SERVER_GRPC_PORT": str(ports["grpc"]),
        "SERVER_GRPC_BIND_ADDRESS": LOOPBACK,
        "SERVER_GRPC_BROADCAST_ADDRESS": grpc_addr,
        "SERVER_GRPC_INSECURE": "t",
        "SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS": grpc_addr,
        "SERVER_HEALTHCHECK_PORT": str(ports["health"]),
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
        "LITE_FRONTEND_PORT": str(ports["frontend"]),
        "LITE_RUNTIME_PORT": str(ports["runtime"]),
        **(extra_env or {}),
    }


def _migrate_and_configure(bin_dir: Path, env: Mapping[str, str], *, cwd: Path, config_dir: Path) -> None:
    """Migrate the database, then seed it and write the config (``overwrite=false``: kept on reuse)."""
    run([bin_dir / "hatchet-migrate"], env=env, cwd=cwd, what="hatchet-migrate")
    run(
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
        cwd=cwd,
        what="hatchet-admin quickstart",
    )


def _create_token(bin_dir: Path, env: Mapping[str, str], *, cwd: Path, config_dir: Path) -> str:
    """A new API token for the seeded default tenant."""
    out = run(
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
        cwd=cwd,
        what="hatchet-admin token create",
    )
    token = next((ln.strip() for ln in out.splitlines() if ln.strip().startswith("ey")), "")
    if not token:
        raise DevStackError(f"no token in `hatchet-admin token create` output:\n{out}")
    return token


def _hatchet_ready(ports: dict[str, int]) -> bool:
    return (
        http_status(f"http://{LOOPBACK}:{ports['api']}/api/ready") == 200
        and http_status(f"http://{LOOPBACK}:{ports['health']}/ready") == 200
        and port_open(ports["grpc"])
    )


def _check_version(health_port: int, version: str) -> None:
    """Raise unless the engine reports ``version`` (the SDK picks its protocol from it)."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{health_port}/version", timeout=2) as r:
        reported = json.load(r).get("version", "")
    if reported != version:
        raise DevStackError(
            f"engine reports version {reported!r}, expected {version!r} "
            "(build without -X main.Version? the SDK then falls back to "
            "legacy mode); SERVER_VERSION_OVERRIDE can also set it"
        )
