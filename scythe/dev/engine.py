"""The Hatchet engine binaries (hatchet-lite, -migrate, -admin), built once with Go and cached.

Needs ``go`` on PATH only when the binaries for a version are not cached yet (``make services``
builds them outside any test's timeout: ~6-7 min cold on 2 cores). Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from scythe.dev.processes import run
from scythe.errors import DevStackError

#: Engine tag built by default. The Go module proxy here serves v0.105.0 (newest tag whose .mod
#: and .zip it serves); the hatchet-sdk cut from the same commit is 1.38.0.
DEFAULT_ENGINE_VERSION = "v0.105.0"
HATCHET_MODULE = "github.com/hatchet-dev/hatchet"
ENGINE_COMMANDS = ("hatchet-lite", "hatchet-migrate", "hatchet-admin")
# Build caches (Go modules, engine binaries); not SCYTHE_CACHE_DIR, which holds input artifacts.
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scythe"


def _built(bin_dir: Path) -> bool:
    return all((bin_dir / c).is_file() for c in ENGINE_COMMANDS)


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
    if _built(bin_dir):
        return bin_dir

    go = shutil.which("go")
    if go is None:
        raise DevStackError("`go` is not on PATH; needed once to build the Hatchet engine")
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel test workers share the cache).
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _built(bin_dir):
            return bin_dir
        tmp_bin = root / "bin.tmp"
        shutil.rmtree(tmp_bin, ignore_errors=True)
        _go_build(go, version, src=root / "src", gobin=tmp_bin, cache=cache)
        shutil.rmtree(bin_dir, ignore_errors=True)
        tmp_bin.rename(bin_dir)  # atomic: a half-built bin/ never looks complete
    return bin_dir


def _go_build(go: str, version: str, *, src: Path, gobin: Path, cache: Path) -> None:
    """Build the engine commands of ``version`` into ``gobin`` from a fresh wrapper module in ``src``."""
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOMODCACHE": str(cache / "gomod"),
        "GOCACHE": str(cache / "gocache"),
        "GOBIN": str(gobin),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }
    (src / "go.mod").write_text("module scythe.local/hatchetbuild\n\ngo 1.26\n")
    run(
        [go, "mod", "download", f"{HATCHET_MODULE}@{version}"],
        env=env,
        cwd=src,
        what="go mod download",
        timeout=1800,
    )
    modsum = cache / "gomod" / f"{HATCHET_MODULE}@{version}" / "go.sum"
    (src / "go.sum").write_bytes(modsum.read_bytes())
    pkgs = [f"{HATCHET_MODULE}/cmd/{c}" for c in ENGINE_COMMANDS]
    run([go, "get", *[f"{p}@{version}" for p in pkgs]], env=env, cwd=src, what="go get", timeout=1800)
    run(
        [go, "install", "-trimpath", "-ldflags", f"-s -w -X main.Version={version}", *pkgs],
        env=env,
        cwd=src,
        what="go install",
        timeout=3600,
    )
