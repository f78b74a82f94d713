"""Schema files → the project's spec module (`scythe specs`), through datamodel-code-generator.

The JSON Schemas in `schemas/` are the experiment's contract: they carry the bounds samplers draw
from and the descriptions that land in every run's `experiment_io_spec.yml`. The pydantic classes
are derived from them, never hand-edited, and must come out byte-identical for the same schemas on
any machine, so that CI can tell a stale module (`scythe specs --check`) from a formatter upgrade.
Hence: the generator's options are fixed here, its built-in formatter is used (datamodel-code-generator
is pinned; black, isort and ruff versions float), and nothing machine-specific enters the output.
"""

from __future__ import annotations

import ast
import difflib
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scythe import extras
from scythe.errors import SchemaError, ScytheError
from scythe.project.schema_lint import (
    FILE_REFERENCE_FORMAT,
    JsonObject,
    RefResolver,
    Role,
    check_schema,
    load_schema,
)
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
# The generator keeps floats out of a Literal (`enum: [1, 2.5, 3]` became `Literal[1, 3] | float`,
# admitting any float): floats reach it as these strings, and the Literal gets the numbers back.
_FLOAT_CHOICE = "scythe-enum-float:"


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


def _exact_number_enums(node: object, floats: dict[str, str]) -> object:
    """A copy of the schema in which float enum values (and defaults) are placeholder strings.

    `floats` maps each placeholder to the number's Python literal, for `_restore_floats`.
    """
    if isinstance(node, list):
        return [_exact_number_enums(item, floats) for item in node]
    if not isinstance(node, dict):
        return node
    marked = {
        key: _exact_number_enums(value, floats) if key != "enum" else value for key, value in node.items()
    }
    choices = marked.get("enum")
    if isinstance(choices, list) and any(isinstance(v, float) for v in choices):

        def placeholder(value: object) -> object:
            if not isinstance(value, float):
                return value
            floats[f"{_FLOAT_CHOICE}{value!r}"] = repr(value)
            return f"{_FLOAT_CHOICE}{value!r}"

        marked["enum"] = [placeholder(v) for v in choices]
        if marked.get("default") in choices:
            marked["default"] = placeholder(marked["default"])
        if marked.get("type") in ("number", "integer"):
            del marked["type"]  # the values say it; a string placeholder would not match it
    return marked


def _restore_floats(text: str, floats: dict[str, str]) -> str:
    for placeholder, literal in floats.items():
        text = text.replace(f'"{placeholder}"', literal)
    if _FLOAT_CHOICE in text:
        raise ScytheError("datamodel-code-generator changed a numeric enum in an unexpected way")
    return text


def _combined(
    input_schema: JsonObject, output_schema: JsonObject, output_path: Path, defs: Mapping[str, JsonObject]
) -> JsonObject:
    """One document, the input schema at the root and the output schema among its `$defs`.

    One generator run gives one module with merged imports and both classes in order. `defs` are
    the shared classes of both schemas (`RefResolver`), which have no definitions left of their own.
    """
    root = dict(input_schema)
    output = dict(output_schema)
    classes: JsonObject = dict(defs)
    output_title = str(output["title"])
    if output_title in classes or output_title == root["title"]:
        raise SchemaError(
            output_path, f"{output_title!r} is already a class name in the input schema", "/title"
        )
    output.pop("$schema", None)
    classes[output_title] = output
    root["$defs"] = classes
    return root


def _renamed_fields(text: str) -> list[tuple[str, str]]:
    """(property name, field name) for each field the generator renamed, with an alias."""
    renamed = []
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        for call in ast.walk(node):
            if isinstance(call, ast.Call):  # Field(...), imported as Field_aliased beside a field "Field"
                for argument in call.keywords:
                    if argument.arg == "alias" and isinstance(argument.value, ast.Constant):
                        renamed.append((str(argument.value.value), node.target.id))
    return renamed


def _property_pointer(schema: object, name: str, pointer: str = "") -> str | None:
    """The JSON pointer of the first property called `name` in `schema`."""
    if isinstance(schema, list):
        pointers = (_property_pointer(item, name, f"{pointer}/{i}") for i, item in enumerate(schema))
        return next((p for p in pointers if p is not None), None)
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if isinstance(properties, dict) and name in properties:
        return f"{pointer}/properties/{name.replace('~', '~0').replace('/', '~1')}"
    for key, value in schema.items():
        if key not in ("enum", "const", "default", "examples"):
            token = str(key).replace("~", "~0").replace("/", "~1")
            found = _property_pointer(value, name, f"{pointer}/{token}")
            if found is not None:
                return found
    return None


def _refuse_shared_properties(input_schema: JsonObject, output_schema: JsonObject, output_path: Path) -> None:
    """An output named like an input would share one column of scalars.pq with it (and the
    input's index level would hold the output's values): refused here, as Register() does."""
    inputs = input_schema.get("properties") or {}
    outputs = output_schema.get("properties") or {}
    if isinstance(inputs, dict) and isinstance(outputs, dict):
        for name in outputs:
            if name in inputs:
                raise SchemaError(
                    output_path,
                    f"{name!r} is also an input property: rename one of them",
                    f"/properties/{name}",
                )


def render_specs(input_path: Path, output_path: Path, root: Path | None = None) -> str:
    """The spec module's text for two schema files. Same schemas → same bytes.

    With `root`, the paths are relative to it, and the header and errors show them so.
    """
    extras.require("project", "scythe specs")
    from datamodel_code_generator import InputFileType, LiteralType, PythonVersion, generate
    from datamodel_code_generator.enums import DataModelType
    from datamodel_code_generator.format import Formatter

    paths: dict[Role, Path] = {"input": input_path, "output": output_path}
    schemas = {role: load_schema((root or Path()) / path, path) for role, path in paths.items()}
    for role, schema in schemas.items():
        check_schema(schema, paths[role], role)
    _refuse_shared_properties(schemas["input"], schemas["output"], output_path)
    refs = RefResolver(root)
    resolved = {role: refs.resolve(schema, paths[role]) for role, schema in schemas.items()}
    floats: dict[str, str] = {}
    combined = _combined(resolved["input"], resolved["output"], output_path, refs.defs)
    document = _exact_number_enums(_mark_file_references(combined), floats)
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
    for name, field in _renamed_fields(text):
        # A name the checks above let through but the generator could only keep under an alias.
        role = next((r for r in paths if _property_pointer(schemas[r], name) is not None), "input")
        raise SchemaError(
            paths[role],
            f"{name!r} cannot be a field name: the generator would rename it {field!r} (it clashes with "
            "a name the spec module uses), and design columns and result tables would not follow; rename it",
            _property_pointer(schemas[role], name),
        )
    return _tidy(_restore_floats(text, floats))


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
