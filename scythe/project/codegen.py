"""Schema files → the project's spec module (`scythe specs`), through datamodel-code-generator.

The JSON Schemas in `schemas/` are the experiment's contract: they carry the bounds samplers draw
from and the descriptions that land in every run's `experiment_io_spec.yml`. The pydantic classes
are derived from them, never hand-edited, and must come out byte-identical for the same schemas on
any machine, so that CI can tell a stale module (`scythe specs --check`) from a formatter upgrade.
Hence: the generator's options are fixed here, its built-in formatter is used (datamodel-code-generator
is pinned; black, isort and ruff versions float), and nothing machine-specific enters the output.
"""

from __future__ import annotations

import difflib
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from scythe.errors import SchemaError, ScytheError
from scythe.project.schema_lint import FILE_REFERENCE_FORMAT, JsonObject, Role, check_schema, load_schema
from scythe.run.versions import read_pyproject

FILE_REFERENCE_TYPE = "scythe.specs.FileReference"
BASE_CLASSES: dict[Role, str] = {
    "input": "scythe.specs.ExperimentInputSpec",
    "output": "scythe.specs.ExperimentOutputSpec",
}
SCHEMA_SUFFIXES = (".yaml", ".yml", ".json")
LINE_LENGTH = 100
# datamodel-code-generator marks models holding a custom type with this config; pydantic needs no
# such permission for FileReference (an annotated union of AnyUrl and Path), so it is noise.
_ARBITRARY_TYPES_CONFIG = "\n    model_config = ConfigDict(\n        arbitrary_types_allowed=True,\n    )\n"


@dataclass(frozen=True)
class SpecsLayout:
    """Where a project keeps its schemas and its generated spec module (from `[tool.scythe]`)."""

    root: Path
    schemas: Path
    module: Path

    def schema_file(self, role: Role) -> Path:
        """`schemas/<role>.schema.{yaml,yml,json}`: exactly one of them."""
        found = [self.schemas / f"{role}.schema{s}" for s in SCHEMA_SUFFIXES]
        found = [p for p in found if p.is_file()]
        if not found:
            raise ScytheError(
                f"no {role} schema: expected {self._show(self.schemas)}/{role}.schema.yaml (or .json)"
            )
        if len(found) > 1:
            raise ScytheError(f"two {role} schemas, keep one: " + ", ".join(self._show(p) for p in found))
        return found[0]

    def shown(self, path: Path) -> Path:
        """`path` relative to the project when it is inside it: how messages and headers name it."""
        return path.relative_to(self.root) if path.is_relative_to(self.root) else path

    def _show(self, path: Path) -> str:
        return self.shown(path).as_posix()


def find_project(start: Path) -> Path:
    """The nearest folder at or above `start` holding a pyproject.toml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise ScytheError(f"no pyproject.toml at or above {start}: run this inside an experiment project")


def layout(root: Path) -> SpecsLayout:
    """Read `[tool.scythe] schemas` and `specs` from the project's pyproject.toml."""
    config = read_pyproject(root)
    tool = config.get("tool", {}).get("scythe", {})
    if not isinstance(tool.get("specs"), str):
        raise ScytheError(
            f'{root / "pyproject.toml"}: [tool.scythe] needs specs = "src/<package>/specs.py" '
            "(where `scythe specs` writes)"
        )
    return SpecsLayout(
        root=root, schemas=root / str(tool.get("schemas", "schemas")), module=root / tool["specs"]
    )


def _mark_file_references(node: object) -> object:
    """A copy of the schema in which `format: file-reference` strings are typed `FileReference`."""
    if isinstance(node, list):
        return [_mark_file_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    marked = {key: _mark_file_references(value) for key, value in node.items()}
    if marked.get("format") == FILE_REFERENCE_FORMAT:
        marked["customTypePath"] = FILE_REFERENCE_TYPE
    return marked


def _combined(input_schema: JsonObject, output_schema: JsonObject, output_path: Path) -> JsonObject:
    """One document, the input schema at the root and the output schema among its `$defs`.

    One generator run gives one module with merged imports and both classes in order.
    """
    root = dict(input_schema)
    output = dict(output_schema)
    defs: JsonObject = {}
    for source in (root, output):
        for keyword in ("$defs", "definitions"):
            found = source.pop(keyword, None)
            if not isinstance(found, dict):
                continue
            for name, sub in found.items():
                if name in defs:
                    raise SchemaError(
                        output_path, f"{name!r} is defined in both schemas", f"/{keyword}/{name}"
                    )
                defs[name] = sub
    output_title = str(output["title"])
    if output_title in defs or output_title == root["title"]:
        raise SchemaError(
            output_path, f"{output_title!r} is already a class name in the input schema", "/title"
        )
    output.pop("$schema", None)
    defs[output_title] = output
    root["$defs"] = defs
    return root


def render_specs(input_path: Path, output_path: Path, root: Path | None = None) -> str:
    """The spec module's text for two schema files. Same schemas → same bytes.

    With `root`, the paths are relative to it, and the header and errors show them so.
    """
    from datamodel_code_generator import InputFileType, LiteralType, PythonVersion, generate
    from datamodel_code_generator.enums import DataModelType
    from datamodel_code_generator.format import Formatter

    paths: dict[Role, Path] = {"input": input_path, "output": output_path}
    schemas = {role: load_schema((root or Path()) / path, path) for role, path in paths.items()}
    for role, schema in schemas.items():
        check_schema(schema, paths[role], role)
    document = _mark_file_references(_combined(schemas["input"], schemas["output"], output_path))
    assert isinstance(document, dict)
    titles = {role: str(schema["title"]) for role, schema in schemas.items()}
    header = (
        f"# Generated by `scythe specs` from {input_path.as_posix()} and {output_path.as_posix()}.\n"
        "# Do not edit: change the schemas and run `scythe specs` (CI runs `scythe specs --check`)."
    )
    # An empty folder for the generator's settings lookup: no pyproject.toml may steer the output.
    with tempfile.TemporaryDirectory(prefix="scythe-specs-") as neutral, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            text = generate(
                document,
                input_file_type=InputFileType.JsonSchema,
                output_model_type=DataModelType.PydanticV2BaseModel,
                class_name=titles["input"],
                base_class_map={titles[role]: BASE_CLASSES[role] for role in titles},
                use_annotated=True,
                use_schema_description=True,
                keep_model_order=True,
                strict_nullable=True,
                enum_field_as_literal=LiteralType.All,
                disable_timestamp=True,
                custom_file_header=header,
                use_double_quotes=True,
                formatters=[Formatter.BUILTIN],
                builtin_format_line_length=LINE_LENGTH,
                target_python_version=PythonVersion.PY_311,
                settings_path=Path(neutral),
            )
        except Exception as exc:
            raise SchemaError(
                input_path, f"cannot generate spec classes ({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(text, str):
        raise ScytheError("datamodel-code-generator returned several modules; expected one")
    return _tidy(text)


def _tidy(text: str) -> str:
    text = text.replace(_ARBITRARY_TYPES_CONFIG, "\n")
    if "ConfigDict(" not in text:
        text = re.sub(r"\bConfigDict, ", "", text)
        text = text.replace("from pydantic import ConfigDict\n", "")
    return text.rstrip("\n") + "\n"


def render_project(specs: SpecsLayout) -> str:
    """The spec module a project's schemas generate."""
    inputs, outputs = (specs.shown(specs.schema_file(role)) for role in ("input", "output"))
    return render_specs(inputs, outputs, specs.root)


@dataclass(frozen=True)
class SpecsStatus:
    """How the committed spec module compares with what the schemas generate."""

    module: Path
    current: bool
    added: int = 0
    removed: int = 0
    diff: str = ""


def compare(specs: SpecsLayout, expected: str | None = None) -> SpecsStatus:
    """Is the spec module what the schemas generate? With a line diff when it is not."""
    expected = render_project(specs) if expected is None else expected
    actual = specs.module.read_text(encoding="utf-8") if specs.module.is_file() else ""
    if actual == expected:
        return SpecsStatus(specs.module, current=True)
    shown = specs.shown(specs.module).as_posix()
    lines = list(
        difflib.unified_diff(
            actual.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            f"{shown} (committed)",
            f"{shown} (from schemas)",
        )
    )
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return SpecsStatus(specs.module, current=False, added=added, removed=removed, diff="".join(lines))


def write(specs: SpecsLayout) -> SpecsStatus:
    """Regenerate the spec module; returns how the old one compared (`current` → nothing changed)."""
    expected = render_project(specs)
    status = compare(specs, expected)
    if not status.current:
        specs.module.parent.mkdir(parents=True, exist_ok=True)
        temporary = specs.module.with_suffix(".py.tmp")
        temporary.write_text(expected, encoding="utf-8")
        temporary.replace(specs.module)
    return status
