"""Issue 13 item 4: a generated project's `deploy/slurm/workers.sbatch` starts Hatchet workers as
a Slurm job array. Rendered from the template, read as sbatch reads it, and submitted to the real
local Slurm (`integration.slurm_cluster`), where each element runs the project's `.venv/bin/scythe`:
here a witness in its place that records how it was started (no Hatchet engine is needed to
see that the script starts the right command with the right settings), and secrets stay out."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from integration.slurm_cluster import slurm_cluster  # noqa: F401 - the session's local Slurm

from scythe.dev.slurm import SlurmCluster
from scythe.project import scaffold

SCRIPT = "deploy/slurm/workers.sbatch"
WITNESS = """#!/bin/bash
# Stands in for the project's `scythe`: records its arguments and the settings it was given.
{ echo "args=$*"; echo "token=${HATCHET_CLIENT_TOKEN-}"; echo "store=${SCYTHE_STORE-}"; } \\
    > "deploy/slurm/logs/witness-${SLURM_ARRAY_TASK_ID}.txt"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return scaffold.new(tmp_path / "heat-sweep", defaults=True).path


def directives(script: str) -> dict[str, str]:
    """The #SBATCH options as sbatch reads them: only those before the first command."""
    found = {}
    for line in script.splitlines()[1:]:
        if line.startswith("#SBATCH "):
            name, _, value = line.removeprefix("#SBATCH ").partition("=")
            found[name] = value
        elif line.strip() and not line.startswith("#"):
            break
    return found


def test_item_04_the_script_is_bash_with_the_array_resources_and_no_secret(project: Path) -> None:
    script = project / SCRIPT
    text = script.read_text()
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    options = directives(text)
    assert options["--job-name"] == "heat-sweep-workers"
    assert re.fullmatch(r"\d+-\d+", options["--array"])
    assert int(options["--cpus-per-task"]) >= 1
    assert re.fullmatch(r"\d+:\d\d:\d\d", options["--time"])
    assert options["--output"] == "deploy/slurm/logs/%x-%A_%a.out"
    assert (project / "deploy/slurm/logs/.gitignore").read_text().splitlines()[1:] == ["*", "!.gitignore"]
    assert "--requeue" in options  # preempted workers come back
    command = text[text.index("exec ") :]
    words = shlex.split(command.replace("\\\n", " "))
    assert words[1:5] == [
        "${WORKERS_VENV:-.venv}/bin/scythe",
        "worker",
        "--processes",
        "${SLURM_CPUS_PER_TASK:-1}",
    ]
    # Secrets only by name: never assigned a value in a committed file.
    assert not re.search(
        r"^\s*(export\s+)?(HATCHET_CLIENT_TOKEN|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID)=", text, re.M
    )
    assert not re.search(r"ey[A-Za-z0-9_-]{20,}", text)  # no JWT (a Hatchet token's shape)
    readme = (project / "README.md").read_text()
    assert "## Running on a Slurm cluster" in readme
    assert SCRIPT in readme


def test_item_04_sbatch_runs_a_worker_per_element_with_settings_from_env_and_dotenv(
    project: Path,
    slurm_cluster: SlurmCluster,  # noqa: F811 - the fixture imported above
) -> None:
    witness = project / ".venv/bin/scythe"
    witness.parent.mkdir(parents=True, exist_ok=True)
    witness.write_text(WITNESS)
    witness.chmod(0o755)
    (project / ".env").write_text(
        '# a comment\nHATCHET_CLIENT_TOKEN=from-dotenv\nSCYTHE_STORE="/shared/runs"\n'
    )
    env = {**os.environ, **slurm_cluster.env(), "HATCHET_CLIENT_TOKEN": "from-the-environment"}

    def submit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sbatch", "--wait", "--array=0-1", "--cpus-per-task=1", "--time=5", SCRIPT],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = submit(env)  # --wait: returns once every element ended
    assert done.returncode == 0, done.stderr
    job = re.search(r"Submitted batch job (\d+)", done.stdout)
    assert job is not None
    for element in (0, 1):
        said = (project / f"deploy/slurm/logs/witness-{element}.txt").read_text().splitlines()
        assert said == [
            f"args=worker --processes 1 --name heat-sweep-slurm-{job.group(1)}-{element}",
            "token=from-the-environment",  # the environment wins over .env
            "store=/shared/runs",  # .env fills in what the environment does not set, unquoted
        ]
        assert (project / f"deploy/slurm/logs/heat-sweep-workers-{job.group(1)}_{element}.out").is_file()

    del env["HATCHET_CLIENT_TOKEN"]
    (project / ".env").write_text("SCYTHE_STORE=/shared/runs\n")  # no token anywhere: refused at once
    refused = submit(env)
    assert refused.returncode != 0
    job = re.search(r"Submitted batch job (\d+)", refused.stdout)
    assert job is not None
    out = (project / f"deploy/slurm/logs/heat-sweep-workers-{job.group(1)}_0.out").read_text()
    assert "set HATCHET_CLIENT_TOKEN in the environment or .env (never in this file)" in out
