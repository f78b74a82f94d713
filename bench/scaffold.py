"""Scaffold: `scythe new` and `scythe specs`, wall time of the command as a user runs it.

Baselines are the tools Scythe wraps, run by hand on the same template and schemas:
- `copier copy --defaults` of the bundled template (what `scythe new` renders, minus the spec
  module and `git init`);
- `datamodel-codegen`, once per schema (what `scythe specs` generates, minus the base classes,
  the FileReference type and the deterministic header).
Every figure is a whole process (interpreter start and imports included), in a fresh folder
outside any git repository, as a user would see it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, Column, Comparison, Contender, Report, Size, child_env, run_command

BIN = Path(sys.executable).parent


def _wall(argv: list[str], cwd: Path) -> float:
    return run_command(argv, cwd=cwd, env=child_env(), expect_result=False, timeout=300).wall


class Workspace:
    """A scratch folder outside the repository (so `scythe new` initialises git as for a user)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="scythe-bench-scaffold-"))
        self.count = 0
        self.project: Path | None = None

    def fresh(self, name: str = "bench-proj") -> Path:
        self.count += 1
        folder = self.root / str(self.count)
        folder.mkdir()
        return folder / name

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def run(size: Size, reps: int) -> Report:
    space = Workspace()
    scythe = [sys.executable, "-P", "-m", "scythe"]
    template = REPO / "template"

    def scythe_new(_: int) -> dict[str, Any]:
        dest = space.fresh()
        seconds = _wall([*scythe, "new", str(dest), "--defaults"], dest.parent)
        space.project = dest
        return {"seconds": seconds}

    def copier_copy(_: int) -> dict[str, Any]:
        dest = space.fresh()
        argv = [str(BIN / "copier"), "copy", "--defaults", "--quiet", "--data", f"project_name={dest.name}"]
        return {"seconds": _wall([*argv, str(template), str(dest)], dest.parent)}

    def project() -> Path:
        if space.project is None:
            scythe_new(0)
        assert space.project is not None
        return space.project

    def scythe_specs(_: int) -> dict[str, Any]:
        where = project()
        (where / "src" / "bench_proj" / "specs.py").unlink()
        return {"seconds": _wall([*scythe, "specs"], where)}

    def codegen(_: int) -> dict[str, Any]:
        where = project()
        seconds = 0.0
        for role in ("input", "output"):
            argv = [
                str(BIN / "datamodel-codegen"),
                "--input",
                f"schemas/{role}.schema.yaml",
                "--input-file-type",
                "jsonschema",
                "--output-model-type",
                "pydantic_v2.BaseModel",
                "--output",
                f"{role}_models.py",
            ]
            seconds += _wall(argv, where)
        return {"seconds": seconds}

    try:
        new = Comparison(
            "scythe new: wall seconds of the command",
            [
                Contender(
                    "scythe new --defaults",
                    scythe_new,
                    "copier render + scythe specs + git init",
                    is_scythe=True,
                ),
                Contender(
                    "copier copy --defaults", copier_copy, "the same template, rendered by copier's CLI"
                ),
            ],
        ).measure(reps)
        specs = Comparison(
            "scythe specs: wall seconds of the command",
            [
                Contender(
                    "scythe specs", scythe_specs, "both schemas → src/<package>/specs.py", is_scythe=True
                ),
                Contender("datamodel-codegen ×2", codegen, "its CLI once per schema (two processes)"),
            ],
        ).measure(reps)
    finally:
        space.close()
    report = Report("scaffold", size)
    for comparison in (new, specs):
        report.tables.append((comparison, [Column("seconds", "seconds", ratio=True)]))
    report.notes.append("no target: the figures show what the wrappers add to the tools they wrap")
    return report
