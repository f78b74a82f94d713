"""Schema files read and checked before generation, with errors that point into the schema.

A mistake in `schemas/*.yaml` is one line naming the file and the JSON pointer, e.g.
`schemas/input.schema.yaml#/properties/gain/minimum: must be a number, not "low"`, instead of a
generator traceback or, worse, a spec class that silently means something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import yaml

from scythe.errors import SchemaError

Role = Literal["input", "output"]
JsonObject = dict[str, object]
FILE_REFERENCE_FORMAT = "file-reference"

# Field names the base classes own: a schema may not redefine them.
RESERVED: dict[Role, frozenset[str]] = {
    "input": frozenset({"experiment_id", "sort_index", "workflow_run_id", "root_workflow_run_id"}),
    "output": frozenset({"dataframes"}),
}
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")


def load_schema(path: Path, shown: Path | None = None) -> JsonObject:
    """A schema file parsed as JSON Schema: YAML or JSON by suffix (never inferred from sample data).

    Errors name the file as `shown` (default: `path`).
    """
    shown = shown or path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(shown, f"cannot read: {exc.strerror}") from exc
    try:
        data: object = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            shown, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SchemaError(shown, f"invalid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise SchemaError(shown, "a schema must be a mapping (a JSON Schema object)", "")
    return data


def check_schema(schema: JsonObject, path: Path, role: Role) -> None:
    """Reject what would generate a wrong or confusing spec class, naming the JSON pointer."""
    problems = list(_top_level_problems(schema, role)) + list(_node_problems(schema, ""))
    if problems:
        pointer, message = problems[0]
        more = (
            f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
            if len(problems) > 1
            else ""
        )
        raise SchemaError(path, message + more, pointer)


def _top_level_problems(schema: JsonObject, role: Role) -> Iterator[tuple[str, str]]:
    title = schema.get("title")
    if not isinstance(title, str) or not _CLASS_NAME.match(title):
        yield (
            "/title",
            f"the {role} schema needs a title that names its class, like MyExperiment{role.title()}",
        )
    if schema.get("type") != "object":
        yield "/type", f"the {role} schema must have type: object"
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        yield "/properties", "must map at least one field name to its schema"
        return
    for name in properties:
        if name in RESERVED[role]:
            yield f"/properties/{_escape(name)}", f"{name!r} is a field Scythe defines; rename it"


def _node_problems(node: object, pointer: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        yield pointer, f"must be a schema object (a mapping), not {_show(node)}"
        return
    yield from _keyword_problems(node, pointer)
    properties = node.get("properties", {})
    if isinstance(properties, dict):
        for name, sub in properties.items():
            if not isinstance(name, str) or not _IDENTIFIER.match(name):
                yield f"{pointer}/properties/{_escape(str(name))}", "field names must be Python identifiers"
            yield from _node_problems(sub, f"{pointer}/properties/{_escape(str(name))}")
    else:
        yield f"{pointer}/properties", "must be a mapping of field names to schemas"
    for keyword in ("$defs", "definitions"):
        defs = node.get(keyword, {})
        if not isinstance(defs, dict):
            yield f"{pointer}/{keyword}", "must be a mapping of names to schemas"
            continue
        for name, sub in defs.items():
            yield from _node_problems(sub, f"{pointer}/{keyword}/{_escape(str(name))}")
    if "items" in node and not isinstance(node["items"], bool):
        yield from _node_problems(node["items"], f"{pointer}/items")
    for keyword in ("anyOf", "oneOf", "allOf"):
        if keyword in node:
            branches = node[keyword]
            if not isinstance(branches, list) or not branches:
                yield f"{pointer}/{keyword}", "must be a non-empty list of schemas"
                continue
            for i, sub in enumerate(branches):
                yield from _node_problems(sub, f"{pointer}/{keyword}/{i}")


def _keyword_problems(node: JsonObject, pointer: str) -> Iterator[tuple[str, str]]:
    types = node.get("type")
    listed = types if isinstance(types, list) else [types] if types is not None else []
    for t in listed:
        if t not in JSON_TYPES:
            yield f"{pointer}/type", f"unknown type {_show(t)}; use one of {', '.join(sorted(JSON_TYPES))}"
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        value = node.get(keyword, 0)
        draft4_flag = keyword.startswith("exclusive") and isinstance(value, bool)  # draft-04 style
        if not (_is_number(value) or draft4_flag):
            yield f"{pointer}/{keyword}", f"must be a number, not {_show(value)}"
    for keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        value = node.get(keyword, 0)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            yield f"{pointer}/{keyword}", f"must be a non-negative integer, not {_show(value)}"
    low, high = node.get("minimum"), node.get("maximum")
    if _is_number(low) and _is_number(high) and low > high:  # type: ignore[operator]
        yield f"{pointer}/maximum", f"is below minimum ({_show(high)} < {_show(low)})"
    if "enum" in node and not (isinstance(node["enum"], list) and node["enum"]):
        yield f"{pointer}/enum", "must be a non-empty list of the allowed values"
    if "pattern" in node:
        try:
            re.compile(str(node["pattern"]))
        except re.error as exc:
            yield f"{pointer}/pattern", f"is not a valid regular expression: {exc}"
    if node.get("format") == FILE_REFERENCE_FORMAT and node.get("type") != "string":
        yield f"{pointer}/type", f"a {FILE_REFERENCE_FORMAT} field must have type: string"
    required = node.get("required", [])
    properties = node.get("properties", {})
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        yield f"{pointer}/required", "must be a list of field names"
    elif isinstance(properties, dict):
        for name in required:
            if name not in properties:
                yield f"{pointer}/required", f"names {name!r}, which is not under properties"
    if "default" in node:
        yield from _default_problems(node, pointer)


def _default_problems(node: JsonObject, pointer: str) -> Iterator[tuple[str, str]]:
    """A default that its own schema rejects would only fail once a design omits the field."""
    default, where, choices = node["default"], f"{pointer}/default", node.get("enum")
    if isinstance(choices, list) and default not in choices:
        yield where, f"{_show(default)} is not one of the enum values"
    checks = {
        "string": isinstance(default, str),
        "integer": isinstance(default, int) and not isinstance(default, bool),
        "number": _is_number(default),
        "boolean": isinstance(default, bool),
    }
    if node.get("type") in checks and not checks[str(node["type"])]:
        yield where, f"{_show(default)} is not of type {node['type']}"
    elif _is_number(default):
        low, high = node.get("minimum"), node.get("maximum")
        if (_is_number(low) and default < low) or (_is_number(high) and default > high):  # type: ignore[operator]
            yield where, f"{_show(default)} is outside [minimum, maximum] = [{_show(low)}, {_show(high)}]"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: object) -> str:
    return (
        json.dumps(value)
        if isinstance(value, str | int | float | bool | type(None))
        else type(value).__name__
    )


def _escape(token: str) -> str:
    """RFC 6901: `~` and `/` inside a JSON pointer token."""
    return token.replace("~", "~0").replace("/", "~1")
