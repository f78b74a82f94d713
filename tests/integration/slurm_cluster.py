"""A real single-node Slurm for the Slurm backend's tests (issue 13), started once per session.

`scythe.dev.slurm.local_slurm` starts munge, slurmctld and slurmd from Debian's slurm-wlm and
munge (`make services` installs them) in a private folder on free 127.0.0.1 ports. Missing
packages fail the tests with the install command; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scythe.dev.slurm import SlurmCluster, local_slurm, missing_slurm


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    missing = missing_slurm()
    if missing:
        pytest.fail(f"the Slurm tests need {missing[0]} (`make services` installs it)", pytrace=False)
    with local_slurm(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture
def slurm_env(slurm_cluster: SlurmCluster, cli_env: dict[str, str]) -> dict[str, str]:
    """A `scythe` command's environment for the local cluster, Slurm the default backend."""
    return {**cli_env, **slurm_cluster.env(), "SCYTHE_BACKEND": "slurm"}
