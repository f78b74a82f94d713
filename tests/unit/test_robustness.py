"""A bad spec fails alone and the run always finishes (robustness issue, items 5, 6 and 8)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import scythe, slow_run_until_committed
from pydantic import Field
from sample_experiments import doomed

from scythe import allocate
from scythe.errors import ExperimentDefinitionError
from scythe.registry import ExperimentRegistry
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec

DEATHS = {
    "segfault": ("WorkerDied", "signal 11 (SIGSEGV)"),
    "exit": ("WorkerDied", "exit code 1"),
    "sigkill": ("WorkerDied", "signal 9 (SIGKILL)"),
    "systemexit": ("SystemExit", "SystemExit(2)"),
    "keyboard": ("KeyboardInterrupt", "KeyboardInterrupt()"),
}


def _run(
    store: Path, doom: dict[int, str], n: int = 10, batch_size: int = 10, workers: int = 1
) -> pd.DataFrame:
    design = [{"x": float(i), "how": doom.get(i, "ok")} for i in range(n)]
    result = allocate(
        doomed, design, store=str(store), workers=workers, batch_size=batch_size, progress=False
    )
    assert result.finished
    assert (result.succeeded, result.failed) == (n - len(doom), len(doom))
    run = store / result.run.prefix
    scalars = pd.read_parquet(run / "final" / "scalars.pq")
    assert sorted(scalars.index.get_level_values("sort_index")) == [i for i in range(n) if i not in doom]
    assert list(scalars.index.get_level_values("sort_index")) == sorted(
        scalars.index.get_level_values("sort_index")
    )
    return pd.read_parquet(run / "final" / "errors.pq").reset_index().set_index("sort_index")


@pytest.mark.parametrize("how", sorted(DEATHS))
def test_item_05_a_spec_that_kills_its_process_fails_alone(store: Path, how: str) -> None:
    errors = _run(store, {3: how})
    kind, message = DEATHS[how]
    assert errors.loc[3, "error_type"] == kind
    assert message in errors.loc[3, "message"]


def test_item_05_several_deaths_in_one_batch_and_across_batches(store: Path) -> None:
    doom = {0: "segfault", 4: "exit", 5: "sigkill", 9: "systemexit", 17: "segfault"}
    errors = _run(store, doom, n=20, batch_size=10, workers=2)
    assert sorted(errors.index) == sorted(doom)


def test_item_06_timeout_is_a_hard_limit_even_when_the_spec_swallows_it(store: Path) -> None:
    errors = _run(store, {2: "swallow"}, n=6)
    assert errors.loc[2, "error_type"] == "Timeout"
    assert "its process was killed" in errors.loc[2, "message"]


def test_item_08_deterministic_failures_are_not_retried(store: Path) -> None:
    errors = _run(store, {1: "wrongtype", 2: "badoutput", 3: "flaky"}, n=5)
    assert errors.loc[1, ["error_type", "attempts"]].tolist() == ["TypeError", 1]
    assert errors.loc[2, ["error_type", "attempts"]].tolist() == ["ValidationError", 1]
    assert errors.loc[3, ["error_type", "attempts"]].tolist() == [
        "RuntimeError",
        3,
    ]  # the user's own: retried


class ClashIn(ExperimentInputSpec):
    y: float = Field(ge=0)


class ClashOut(ExperimentOutputSpec):
    y: float


class Bookkeeping(ExperimentOutputSpec):
    sort_index: int


def clash(spec: ClashIn) -> ClashOut:
    return ClashOut(y=spec.y)


def shadow(spec: ClashIn) -> Bookkeeping:
    return Bookkeeping(sort_index=0)


def test_item_01_an_output_named_like_an_input_is_refused_at_register() -> None:
    with pytest.raises(ExperimentDefinitionError, match=r"'y' is both an input .* and an output of ClashOut"):
        ExperimentRegistry.Register(name="clash")(clash)
    with pytest.raises(ExperimentDefinitionError, match=r"'sort_index' is both an input"):
        ExperimentRegistry.Register(name="shadow")(shadow)
    assert "clash" not in ExperimentRegistry.names()


def test_item_01_a_dataframe_column_shadowing_an_index_level_fails_its_spec(store: Path) -> None:
    from sample_experiments import framer

    result = allocate(framer, [{"x": 1.0}, {"x": 2.0}], store=str(store), workers=1, progress=False)
    assert (result.succeeded, result.failed) == (1, 1)
    errors = pd.read_parquet(store / result.run.prefix / "final" / "errors.pq").reset_index()
    assert errors["message"].iloc[0] == "dataframe columns ['x'] clash with the spec's index levels"


def test_item_05_ctrl_c_is_still_an_interrupt_with_the_exact_resume_command(
    tmp_path: Path, store: Path, cli_env: dict[str, str]
) -> None:
    import os
    import signal

    proc = slow_run_until_committed(tmp_path, store, cli_env, n=160, batches=2)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    run = next(p for p in store.glob("*/*/*") if p.is_dir()).relative_to(store).as_posix()
    assert f"scythe resume {run} --store {store}" in stderr
    assert "Traceback" not in stderr
    assert not (store / run / "final" / "errors.pq").exists()  # nothing was recorded as a spec failure


def test_item_11_user_strings_are_never_read_as_markup(tmp_path: Path, cli_env: dict[str, str]) -> None:

    proc = scythe(["run", "sample_experiments:square", "--design", "d/[x]/a.csv"], cli_env, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: design file not found: d/[x]/a.csv"


def test_item_11_scythes_own_messages_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    from scythe.cli.app import warn

    warn("use a git URL in [tool.uv.sources]")
    assert "warning: use a git URL in [tool.uv.sources]" in capsys.readouterr().err


def test_item_14_print_output_of_specs_goes_to_the_batch_log(store: Path) -> None:
    from sample_experiments import chatty

    result = allocate(chatty, [{"x": 1.0}, {"x": 2.0}], store=str(store), workers=1, progress=False)
    logs = "".join(
        p.read_text() for p in (store / result.run.prefix).glob("scatter-gather/results/*/log.txt")
    )
    assert "chatty says 1.0" in logs
    assert "chatty says 2.0" in logs


def test_item_13_a_run_where_every_spec_failed_is_gathered_and_shown(
    tmp_path: Path, store: Path, cli_env: dict[str, str]
) -> None:
    import subprocess

    from scythe.results import load

    result = allocate(
        doomed, [{"x": 1.0, "how": "flaky"}, {"x": 2.0, "how": "flaky"}], store=str(store), progress=False
    )
    assert (result.succeeded, result.failed) == (0, 2)
    frames = load(result.run.prefix, store=str(store))
    assert {"scalars", "errors"} <= set(frames)
    assert frames["scalars"].empty
    assert list(frames["scalars"].index.names) == list(frames["errors"].index.names)
    assert "y" in frames["scalars"].columns
    ok = allocate(doomed, [{"x": 3.0}], store=str(store), progress=False)
    assert load(ok.run.prefix, store=str(store))["errors"].empty

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return scythe([*args, "--store", str(store)], cli_env, tmp_path)

    assert "gathered, 0 ok / 2 failed" in cli("results", "list").stdout
    shown = cli("results", "show", result.run.prefix)
    assert shown.returncode == 0
    assert f"scythe results show {result.run.prefix} --table errors" in shown.stderr


def test_item_01_scythe_specs_refuses_an_output_property_named_like_an_input(tmp_path: Path) -> None:
    from test_codegen import make_project

    from scythe.errors import SchemaError
    from scythe.project import codegen

    layout = make_project(tmp_path)
    output = layout.schemas / "output.schema.yaml"
    output.write_text(output.read_text() + "  alpha: {type: number}\n")
    with pytest.raises(SchemaError, match=r"output.schema.yaml#/properties/alpha: 'alpha' is also an input"):
        codegen.render_project(layout)
    assert not (tmp_path / "src").exists()


def test_item_14_an_experiment_defined_in_main_is_refused_with_a_hint(tmp_path: Path, store: Path) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "sweep.py"
    script.write_text(
        "from sample_experiments import PointInput, PointOutput\n"
        "from scythe import allocate\n"
        "from scythe.registry import ExperimentRegistry\n\n"
        "@ExperimentRegistry.Register(name='local')\n"
        "def local(spec: PointInput) -> PointOutput:\n"
        "    return PointOutput(y=spec.x, doubled=0)\n\n"
        f"allocate(local, [{{'x': 1.0}}], store={str(store)!r}, progress=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "is defined in the script being run (__main__)" in proc.stderr
    assert not store.exists()


def test_item_14_set_with_design_is_refused_not_ignored(tmp_path: Path, cli_env: dict[str, str]) -> None:

    design = tmp_path / "d.csv"
    design.write_text("x\n1.0\n")
    args = ["run", "sample_experiments:square", "--design", str(design), "--set", "n=2"]
    proc = scythe(args, cli_env, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: --set fixes fields of a --sample design")
