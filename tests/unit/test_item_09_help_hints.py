"""Issue 11 item 9: every `--help` shows its hints, and `scythe run` says which experiment it picked.

The help is read as a user reads it: each command's `--help` output, one option per line (the
formatter is given a wide page), then each option's line is checked against the click parameter
behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from conftest import scythe
from typer.core import TyperOption
from typer.testing import CliRunner

from scythe.cli import app
from scythe.settings import ScytheSettings

ROOT = Path(__file__).resolve().parents[2]

# The options whose unset value comes from an environment variable (read by ScytheSettings or the
# scaffolder, never by click), keyed by (command, parameter name).
ENV = {
    **{(cmd, "store"): "SCYTHE_STORE" for cmd in ("run", "resume", "status", "cancel", "logs")},
    **{
        (cmd, "store"): "SCYTHE_STORE"
        for cmd in ("results list", "results show", "results download", "results report")
    },
    ("run", "workers"): "SCYTHE_WORKERS",
    ("resume", "workers"): "SCYTHE_WORKERS",
    ("run", "backend"): "SCYTHE_BACKEND",
    ("worker", "slots"): "SCYTHE_WORKER_SLOTS",
    ("worker", "name"): "SCYTHE_WORKER_NAME",
    ("new", "template"): "SCYTHE_TEMPLATE",
}
# Options that are simply absent when not given: nothing to show as a default.
NO_DEFAULT = {
    ("run", "design"),
    ("run", "sample"),
    ("run", "fixed"),
    ("new", "data"),
    ("build", "tag"),
    ("build", "build_arg"),
    ("", "install_completion"),
    ("", "show_completion"),
}


def _commands() -> Iterator[tuple[str, Any]]:
    """Every command and group (the root is ""), as click sees them."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        yield " ".join(path), command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


COMMANDS = dict(_commands())


def _help(path: str) -> str:
    args = [*path.split(), "--help"]
    result = CliRunner().invoke(app, args, max_content_width=1000, terminal_width=1000)
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, param: Any) -> str:
    """The help line of `param`: its flags (options) or its metavar (arguments) first."""
    if isinstance(param, TyperOption):
        long = max(param.opts, key=len)
        pattern = rf"^  (?:-\w, )?{re.escape(long)}(?=[\s,]|$).*$"
    else:
        pattern = rf"^  {re.escape(param.metavar or param.name or '')}\b.*$"
    found = re.findall(pattern, output, flags=re.MULTILINE)
    assert len(found) == 1, f"no single help line for {param.name}:\n{output}"
    return str(found[0])


def _shown_default(param: Any) -> str | None:
    """The literal default typer prints, or None for one that only means "not given"."""
    default = param.default
    if default is None or default is False or (isinstance(default, list | tuple) and not default):
        return None
    return str(default)


def test_item_09_the_walk_finds_every_command() -> None:
    expected = {"run", "resume", "worker", "status", "cancel", "new", "specs", "update", "build"}
    expected |= {"results list", "results show", "results download", "dev up", "dev down"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_item_09_help_hints(path: str) -> None:
    output = _help(path)
    assert "<bool>" not in output
    for param in COMMANDS[path].params:
        if param.name == "help" or getattr(param, "hidden", False):
            continue
        row = _row(output, param)
        key = (path, param.name or "")
        env = ENV.get(key)
        assert re.findall(r"\benv: (\w+)", row) == ([env] if env else []), row
        if isinstance(param, TyperOption) and param.is_flag:
            # A flag takes no value: nothing but spaces between it and its help.
            assert re.match(rf"^  (?:-\w, )?{re.escape(max(param.opts, key=len))} {{2,}}\S", row), row
            continue
        literal = _shown_default(param)
        if param.required:
            assert "[required]" in row, row
        elif literal is not None:
            assert f"default: {literal}]" in row or f"default: {literal};" in row, row
        elif key in NO_DEFAULT:
            assert "default:" not in row, row
        else:
            assert re.search(r"\[(?:env: \w+; )?default: [^\]]+\]", row), f"{path}: says no default: {row}"


def test_item_09_every_env_hint_names_a_variable_scythe_reads() -> None:
    settings = {f"SCYTHE_{name.upper()}" for name in ScytheSettings.model_fields}
    sources = "\n".join(
        p.read_text() for p in (ROOT / "scythe").rglob("*.py") if "cli" not in p.relative_to(ROOT).parts
    )
    for variable in set(ENV.values()):
        assert variable in settings or f'"{variable}"' in sources, variable
    for key in [*ENV, *NO_DEFAULT]:
        assert key[0] in COMMANDS, key
        assert key[1] in {p.name for p in COMMANDS[key[0]].params}, key


def test_item_09_command_lists_are_not_cut_short() -> None:
    for path, command in COMMANDS.items():
        if getattr(command, "commands", None):
            listed = _help(path).split("Commands:", 1)[1]
            assert "..." not in listed, listed


def test_item_09_hints_survive_an_80_column_terminal(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """What a user sees (a subprocess, an 80-column terminal): wrapped, but nothing eaten."""
    done = scythe(["run", "--help"], {**cli_env, "COLUMNS": "80"}, tmp_path)
    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())
    assert "[env: SCYTHE_STORE; default: ./scythe-store]" in flat
    assert "[env: SCYTHE_BACKEND; default: embedded]" in flat
    assert "<bool>" not in flat


PICKED = """
from pydantic import Field
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class In(ExperimentInputSpec):
    x: float = Field(ge=0, le=1)


class Out(ExperimentOutputSpec):
    y: float


@ExperimentRegistry.Register(name="picked")
def simulate(spec: In) -> Out:
    return Out(y=spec.x)
"""


def _installed_project(site: Path) -> None:
    """A project installed as pip would leave it: a module and a dist-info declaring its experiment."""
    (site / "picked_exp.py").write_text(PICKED)
    info = site / "picked_project-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: picked-project\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[scythe.experiments]\npicked = picked_exp:simulate\n")


def test_item_09_run_without_a_name_says_which_experiment_and_from_where(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _installed_project(site)
    env = {**cli_env, "PYTHONPATH": str(site)}
    store = tmp_path / "store"
    done = scythe(["run", "--sample", "lhs", "--n", "3", "--store", str(store), "-q"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert said == [
        "experiment picked (picked_exp:simulate), the only one installed: declared by picked-project "
        "1.2.3 (entry point picked = picked_exp:simulate)"
    ]
    assert "ok 3  failed 0" in done.stdout
    assert not done.stderr.lower().startswith(("error", "warning"))


def test_item_09_run_with_a_name_says_nothing_about_picking(tmp_path: Path, cli_env: dict[str, str]) -> None:
    design = tmp_path / "design.csv"
    design.write_text("x\n0.5\n")
    args = ["run", "sample_experiments:square", "--design", str(design), "--store", str(tmp_path / "s"), "-q"]
    done = scythe(args, cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the only one installed" not in done.stderr


def test_item_09_output_prints_values_as_typed() -> None:
    """No markup and no emoji codes: a value such as `:thumbs_up:` or `[x]` is printed as given."""
    from scythe.cli.app import err, out

    for console in (out, err):
        with console.capture() as captured:
            console.print("runs/:thumbs_up:/[bold]x[/]")
        assert captured.get().strip() == "runs/:thumbs_up:/[bold]x[/]"
