"""Failures of the libraries at Scythe's edges (boto3, hatchet-sdk) reach the user as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from botocore.stub import Stubber

from scythe.errors import BackendError, StoreError
from scythe.store import S3Store

NO_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}


def _one_line_error(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "scythe", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def test_an_s3_store_without_credentials_is_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if not k.startswith("AWS_")} | NO_CREDENTIALS
    stderr = _one_line_error(["results", "list", "--store", "s3://bucket/runs"], env, tmp_path)
    assert "cannot use the S3 store s3://bucket/runs: Unable to locate credentials" in stderr


def test_a_refused_s3_request_is_a_store_error() -> None:
    store = S3Store("bucket", "runs", endpoint_url="http://127.0.0.1:9/refusing")
    with Stubber(store.client) as stub:
        stub.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(StoreError, match="refused a request: AccessDenied"):
            store.list_keys("exp")


def test_a_malformed_hatchet_token_is_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "HATCHET_CLIENT_TOKEN": "not-a-jwt"}
    args = ["run", "sample_experiments:square", "--sample", "lhs", "--n", "2", "--backend", "hatchet"]
    stderr = _one_line_error([*args, "--store", str(tmp_path / "s")], env, tmp_path)
    assert (
        "the Hatchet client settings (HATCHET_CLIENT_*) are invalid: Value error, Token must be a valid JWT"
        in stderr
    )
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_an_engine_failure_is_a_backend_error() -> None:
    from scythe.backends.hatchet.client import engine_call

    with (
        pytest.raises(BackendError, match="could not accept the run: ConnectionRefusedError: no engine"),
        engine_call("accept the run"),
    ):
        raise ConnectionRefusedError("no engine\nat 127.0.0.1:7077")
