"""Item 5: the generated image, built for real and run, on a machine with no Docker daemon and no
image registry.

Debian's buildah builds the generated Dockerfile without a daemon (chroot isolation, vfs storage,
both set through buildah's own environment variables), through `scythe build --builder buildah`.
The Dockerfile's base images are build arguments, so the test supplies local stand-ins for the
two it cannot pull:

- python: a `debootstrap --variant=minbase bookworm` root filesystem with python3.11 (Debian's
  packages), kept as a tarball under ~/.cache/scythe/images, plus this machine's CA bundle (its
  egress to the package index re-signs TLS, so uv inside the build must trust what the host trusts);
- uv: an image holding only /uv, the uv binary running this test (as ghcr.io/astral-sh/uv does).

Both are tagged by a hash of what they are made of, so a run pays debootstrap (~1.5 min) once and
later runs find them with `buildah inspect`. The project's own image is removed after the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from scythe.project import scaffold

CACHE = Path.home() / ".cache" / "scythe" / "images"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE, PACKAGES = "bookworm", "python3.11,python3-venv"
PYTHON_STAND_IN = "localhost/scythe-test-python"
UV_STAND_IN = "localhost/scythe-test-uv"
# Trimmed like the official slim images: no docs, man pages, locales or apt lists.
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale")
STORAGE_CONF = """[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
"""
# What runs inside the image, as its own user: read back the run that `scythe run` wrote.
CHECK = """
import glob, importlib.util, json, os, pandas as pd, yaml
(run,) = glob.glob("/home/scythe/store/*/*/*/manifest.yml")
final = os.path.join(os.path.dirname(run), "final")
scalars = pd.read_parquet(os.path.join(final, "scalars.pq"))
print(json.dumps({
    "uid": os.getuid(),
    "owner": os.stat(os.path.join(final, "scalars.pq")).st_uid,
    "rows": len(scalars),
    "columns": list(scalars.columns),
    "manifest": {k: yaml.safe_load(open(run))[k] for k in ("experiment", "image", "n_specs")},
    "tooling": [m for m in ("copier", "datamodel_code_generator", "scipy") if importlib.util.find_spec(m)],
}))
"""


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, timeout: int = 600) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (
        f"{cmd} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert found is not None, f"{name} is not installed: `make services` installs it (apt-get)"
    return found


def digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]


@pytest.fixture(scope="module")
def buildah_env() -> dict[str, str]:
    """buildah without a daemon: chroot isolation and vfs storage, through its own variables."""
    CACHE.mkdir(parents=True, exist_ok=True)
    conf = CACHE / "storage-vfs.conf"
    conf.write_text(STORAGE_CONF)
    skip = ("SCYTHE_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return {**env, "CONTAINERS_STORAGE_CONF": str(conf), "BUILDAH_ISOLATION": "chroot", "NO_COLOR": "1"}


def has_image(ref: str, env: dict[str, str]) -> bool:
    probe = [tool("buildah"), "inspect", "--type", "image", ref]
    return subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0


def tags_of(repository: str, env: dict[str, str]) -> list[str]:
    listed = run([tool("buildah"), "images", "--format", "{{.Name}}:{{.Tag}}"], env).split()
    return [ref for ref in listed if ref.startswith(f"{repository}:")]


def build_stand_in(
    repository: str, key: str, files: dict[str, Path | bytes], recipe: str, env: dict[str, str]
) -> str:
    """`repository:key`, built from `recipe` with `files` as its context unless it exists already;
    older tags of the same stand-in are removed (vfs keeps a full copy of each)."""
    ref = f"{repository}:{key}"
    if has_image(ref, env):
        return ref
    buildah = tool("buildah")
    old = tags_of(repository, env)
    with tempfile.TemporaryDirectory(dir=CACHE) as context:
        for name, content in files.items():
            target = Path(context) / name
            if isinstance(content, Path) and content.stat().st_dev == CACHE.stat().st_dev:
                os.link(content, target)  # the rootfs tarball: no copy of its ~130 MB
            elif isinstance(content, Path):
                shutil.copy2(content, target)
            else:
                target.write_bytes(content)
        (Path(context) / "Containerfile").write_text(recipe)
        run([buildah, "build", "--file", "Containerfile", "--tag", ref, context], env)
    for stale in old:
        if stale != ref:
            subprocess.run([buildah, "rmi", stale], env=env, capture_output=True, check=False)
    return ref


def bookworm_rootfs() -> Path:
    """A trimmed `debootstrap --variant=minbase` Debian with python3.11, as a tarball (made once)."""
    tarball = CACHE / f"{SUITE}-{digest(PACKAGES.encode(), *map(str.encode, TRIM))}.tar"
    if tarball.is_file():
        return tarball
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        rootfs = Path(work) / "rootfs"
        run(
            [tool("debootstrap"), "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs)],
            dict(os.environ),
            timeout=900,
        )
        for folder in TRIM:
            shutil.rmtree(rootfs / folder, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], dict(os.environ))
        partial.rename(tarball)
    for stale in CACHE.glob(f"{SUITE}-*.tar"):
        if stale != tarball:
            stale.unlink()
    return tarball


def python_stand_in(env: dict[str, str]) -> str:
    """Stands in for python:3.11-slim-bookworm: Debian's python3.11, trusting this host's CAs."""
    rootfs = bookworm_rootfs()
    files: dict[str, Path | bytes] = {"rootfs.tar": rootfs}
    recipe = "FROM scratch\nADD rootfs.tar /\n"
    if HOST_CA.is_file():
        files["ca-certificates.crt"] = HOST_CA.read_bytes()
        recipe += f"COPY ca-certificates.crt {HOST_CA}\nENV SSL_CERT_FILE={HOST_CA}\n"
    recipe += 'CMD ["python3"]\n'
    ca = files.get("ca-certificates.crt", b"")
    key = digest(rootfs.name.encode(), recipe.encode(), ca if isinstance(ca, bytes) else b"")
    return build_stand_in(PYTHON_STAND_IN, f"3.11-{key}", files, recipe, env)


def uv_stand_in(env: dict[str, str]) -> str:
    """Stands in for ghcr.io/astral-sh/uv: an image holding only /uv (the uv running this test)."""
    uv = Path(os.environ.get("UV") or tool("uv")).resolve()
    binary = uv.read_bytes()
    assert binary[:4] == b"\x7fELF", f"{uv} is not the uv binary (a shim?): set UV to the binary"
    version = run([str(uv), "--version"], env).split()[1]
    recipe = "FROM scratch\nCOPY uv /uv\n"
    return build_stand_in(UV_STAND_IN, f"{version}-{digest(binary)}", {"uv": uv}, recipe, env)


@pytest.fixture
def image_repository(buildah_env: dict[str, str]) -> Iterator[str]:
    """Where the test's image is tagged; every tag of it is removed afterwards."""
    repository = f"localhost/scythe-item05-{os.getpid()}/heat-sweep"
    yield repository
    buildah = tool("buildah")
    # buildah 1.28 leaves a working container behind for a stage only copied from (the uv stage).
    listed = [buildah, "containers", "--format", "{{.ContainerID}} {{.ImageName}}"]
    for line in run(listed, buildah_env).splitlines():
        container, _, image = line.partition(" ")
        if image.strip().startswith((f"{UV_STAND_IN}:", f"{PYTHON_STAND_IN}:")):
            subprocess.run([buildah, "rm", container], env=buildah_env, capture_output=True, check=False)
    for tag in tags_of(repository, buildah_env):
        subprocess.run([buildah, "rmi", "--force", tag], env=buildah_env, capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # cold: debootstrap (~1.5 min) and the first PyPI downloads
def test_item_05_the_generated_image_builds_with_buildah_and_runs_five_specs_as_its_user(
    tmp_path: Path, scythe_wheel: Path, buildah_env: dict[str, str], image_repository: str
) -> None:
    env, buildah = buildah_env, tool("buildah")
    started = time.monotonic()
    python_image, uv_image = python_stand_in(env), uv_stand_in(env)
    bases_at = time.monotonic()

    # A project as a user of an unreleased Scythe makes it: its wheel in wheels/, locked, committed.
    project = scaffold.new(tmp_path / "heat-sweep", defaults=True).path
    shutil.copy2(scythe_wheel, project / "wheels")
    run([os.environ.get("UV") or tool("uv"), "lock", "--quiet"], env, cwd=project)
    lock = (project / "uv.lock").read_text()
    assert 'name = "scythe-sweep"\nversion = "0.1.0"\nsource = { registry = "wheels" }' in lock
    for outside in (str(ROOT), str(tmp_path), "../"):  # only wheels/, inside the project
        assert outside not in lock
    for args in (["add", "--all"], ["commit", "--quiet", "-m", "new experiment"]):
        identity = ["-c", "user.name=Scythe Tests", "-c", "user.email=tests@scythe.invalid"]
        run(["git", *identity, "-c", "commit.gpgsign=false", *args], env, cwd=project)
    sha = run(["git", "rev-parse", "--short=12", "HEAD"], env, cwd=project).strip()

    # `scythe build` with buildah, the bases swapped for the stand-ins by build arguments only.
    build = [sys.executable, "-m", "scythe", "build", "--builder", "buildah", "--image", image_repository]
    build += ["--build-arg", f"PYTHON_IMAGE={python_image}", "--build-arg", f"UV_IMAGE={uv_image}"]
    built = run(build, env, cwd=project, timeout=1200)
    version_tag = f"{image_repository}:v0.1.0"
    assert f"built    {version_tag}, {image_repository}:{sha}" in built
    assert has_image(f"{image_repository}:{sha}", env)
    built_at = time.monotonic()

    container = run([buildah, "from", version_tag], env).strip()
    try:
        run(
            [buildah, "copy", "--chown", "10001:10001", container, "data/example.csv", "/home/scythe/"],
            env,
            project,
        )

        def inside(*command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [buildah, "run", container, "--", *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        # An embedded run of 5 specs, as the image's user, with the experiment the image installed.
        sample = ["--sample", "lhs", "--n", "5", "--set", "data_file=/home/scythe/example.csv"]
        ran = inside("scythe", "run", *sample, "--store", "/home/scythe/store", "--workers", "2", "--quiet")
        assert ran.returncode == 0, ran.stdout + ran.stderr  # exit 0: every spec succeeded
        checked = inside("python", "-c", CHECK)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        result = json.loads(checked.stdout)
        assert result == {
            "uid": 10001,
            "owner": 10001,
            "rows": 5,
            "columns": ["score", "peak"],
            "manifest": {"experiment": "heat_sweep", "image": version_tag, "n_specs": 5},
            "tooling": [],  # a worker image carries no project tooling (copier, codegen, scipy)
        }
        # The image's entrypoint starts and stops at its first missing setting, in one line.
        worker = inside("heat-sweep-worker")
        assert worker.returncode == 1, worker.stdout + worker.stderr
        assert worker.stderr.startswith("error: "), worker.stderr
        assert "HATCHET_CLIENT_TOKEN" in worker.stderr, worker.stderr
        size = inside("sh", "-c", "du -sk /app/.venv/lib/python*/site-packages")
        assert size.returncode == 0, size.stderr
        site_packages_mib = int(size.stdout.split()[0]) / 1024
    finally:
        subprocess.run([buildah, "rm", container], env=env, capture_output=True, check=False)
    done = time.monotonic()
    print(
        f"\nitem 5: stand-in bases {bases_at - started:.0f} s, image build {built_at - bases_at:.0f} s, "
        f"run and checks {done - built_at:.0f} s; the image's site-packages: {site_packages_mib:.0f} MiB"
    )
