"""Schema files read and checked before generation, with errors that point into the schema.

A mistake in `schemas/*.yaml` is one line naming the file and the JSON pointer, e.g.
`schemas/input.schema.yaml#/properties/gain/minimum: must be a number, not "low"`, instead of a
generator traceback or, worse, a spec class that silently means something else.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterator
from keyword import iskeyword
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

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
    _raise_first(list(_top_level_problems(schema, role)) + list(_node_problems(schema, "")), path)


def check_subschema(node: object, path: Path, pointer: str) -> None:
    """The checks of `check_schema` for a part of a schema file (what a `$ref` points at)."""
    _raise_first(list(_node_problems(node, pointer)), path)


def field_name_problem(name: str, role: Role | None = None) -> str | None:
    """Why a property cannot be a field as it is named, or None.

    Pydantic holds a keyword, a `_name` or a name its BaseModel owns only under an alias, which a
    design's columns and the result tables would not follow; a name the spec classes define would
    shadow their method. `role` is given for the top-level properties of the input/output schema.
    """
    if iskeyword(name):
        return f"{name!r} is a Python keyword, so pydantic could only hold it under an alias: rename it"
    if name.startswith("_"):
        return f"{name!r} starts with '_', which pydantic keeps for private attributes: rename it"
    if name.startswith("model_"):
        return f"{name!r} is in the model_ namespace pydantic keeps for its own methods: rename it"
    if name in _spec_attributes(None):
        return f"{name!r} would shadow the pydantic BaseModel attribute of that name: rename it"
    return _spec_attribute_problem(name, role) if role else None


def _spec_attribute_problem(name: str, role: Role) -> str | None:
    """A name the spec base class adds to BaseModel (`fetch`, `log`, `scalar_fields`, ...)."""
    if name in _spec_attributes(role) - _spec_attributes(None) and not name.startswith("_"):
        return f"{name!r} would shadow {_SPEC_CLASSES[role]}.{name}: rename it"
    return None


_SPEC_CLASSES: dict[Role, str] = {"input": "ExperimentInputSpec", "output": "ExperimentOutputSpec"}


@functools.cache
def _spec_attributes(role: Role | None) -> frozenset[str]:
    """The attributes (methods, class variables) of a spec base class, or of pydantic's BaseModel."""
    from pydantic import BaseModel

    from scythe import specs

    owner = getattr(specs, _SPEC_CLASSES[role]) if role else BaseModel
    return frozenset(n for n in dir(owner) if not (n.startswith("__") and n.endswith("__")))


def _raise_first(problems: list[tuple[str, str]], path: Path) -> None:
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
        elif isinstance(name, str) and (problem := _spec_attribute_problem(name, role)):
            yield f"/properties/{_escape(name)}", problem  # the rest of the names: _node_problems


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
            elif problem := field_name_problem(name):
                yield f"{pointer}/properties/{_escape(name)}", problem
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
    choices = node.get("enum")
    if "enum" in node and not (isinstance(choices, list) and choices):
        yield f"{pointer}/enum", "must be a non-empty list of the allowed values"
    elif isinstance(choices, list) and any(isinstance(v, float) and not math.isfinite(v) for v in choices):
        yield f"{pointer}/enum", "values must be finite numbers (not .inf or .nan)"
    if "$ref" in node and not isinstance(node["$ref"], str):
        yield (
            f"{pointer}/$ref",
            f"must be a reference string like other.yaml#/$defs/x, not {_show(node['$ref'])}",
        )
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


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")  # name → schema
_DATA = ("enum", "const", "default", "examples")  # values, not schemas: never followed


class RefResolver:
    """Every `$ref` of the two schemas resolved before generation, relative to the file holding it.

    datamodel-code-generator, given the combined document, would look referenced files up from the
    working directory and turn every referenced scalar into a RootModel class. Here a reference to
    an object schema (one with properties) becomes a shared class named after its definition (its
    key, or the file's title or stem), kept in `defs`; anything else is inlined where it is used,
    with the keywords beside the `$ref` (a description, a default) taking precedence, so that
    `alpha: {$ref: common.yaml#/$defs/resistance}` is a plain bounded float that designs can sample.
    Paths are shown relative to `root`, as the schema files are.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root or Path()
        self._documents: dict[Path, JsonObject] = {}
        self._names: dict[tuple[Path, str], str] = {}
        self._owners: dict[str, tuple[Path, str]] = {}
        self._checked: set[tuple[Path, str]] = set()
        self._inlining: list[tuple[Path, str]] = []
        self.defs: dict[str, JsonObject] = {}

    def resolve(self, schema: JsonObject, path: Path) -> JsonObject:
        """`schema` (read from `path`) without `$ref`s and definitions; its object definitions
        join `defs`, the others are inlined wherever they are referenced."""
        path = _normal(path)
        self._documents[path] = schema
        for keyword in ("$defs", "definitions"):
            found = schema.get(keyword)
            for name, sub in found.items() if isinstance(found, dict) else ():
                if _is_model(sub):
                    self._share((path, f"/{keyword}/{_escape(str(name))}"), str(name), sub, path)
        body = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
        resolved = self._walk(body, path, "")
        assert isinstance(resolved, dict)
        return resolved

    def _walk(self, node: object, path: Path, pointer: str) -> object:
        if isinstance(node, list):
            return [self._walk(item, path, f"{pointer}/{i}") for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("$ref"), str):
            return self._follow(node, path, pointer)
        walked: JsonObject = {}
        for key, value in node.items():
            at = f"{pointer}/{_escape(str(key))}"
            if key in _DATA:
                walked[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                walked[key] = {n: self._walk(s, path, f"{at}/{_escape(str(n))}") for n, s in value.items()}
            else:
                walked[key] = self._walk(value, path, at)
        return walked

    def _follow(self, node: JsonObject, path: Path, pointer: str) -> JsonObject:
        reference, where = str(node["$ref"]), f"{pointer}/$ref"
        siblings = self._walk({k: v for k, v in node.items() if k != "$ref"}, path, pointer)
        assert isinstance(siblings, dict)
        file_part, _, fragment = reference.partition("#")
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", file_part) or file_part.startswith("//"):
            raise SchemaError(
                path, f"{reference!r}: only references to local schema files are supported", where
            )
        fragment = unquote(fragment)
        if fragment and not fragment.startswith("/"):
            raise SchemaError(
                path, f"{reference!r}: the part after # must be a JSON pointer (#/$defs/name)", where
            )
        target_path = _normal(path.parent / unquote(file_part)) if file_part else path
        document = self._document(target_path, path, where)
        target = _lookup(document, fragment)
        if target is None:
            raise SchemaError(
                path, f"{reference!r} points at nothing: {target_path.as_posix()} has no #{fragment}", where
            )
        key = (target_path, fragment)
        if key not in self._checked:
            self._checked.add(key)
            check_subschema(target, target_path, fragment)
        if _is_model(target):
            assert isinstance(target, dict)
            tokens = [t for t in fragment.split("/") if t]
            name = (
                _unescape(tokens[-1])
                if tokens
                else str(target.get("title") or target_path.name.split(".")[0])
            )
            shared = self._share(key, name, target, target_path, path, where)
            return {"$ref": f"#/$defs/{_escape(shared)}", **siblings}
        if key in self._inlining:
            raise SchemaError(
                path, f"{reference!r} refers back to itself: a field cannot contain itself", where
            )
        self._inlining.append(key)
        try:
            inlined = self._walk(target, target_path, fragment)
        finally:
            self._inlining.pop()
        assert isinstance(inlined, dict)  # check_subschema: a schema is a mapping
        return {**inlined, **siblings}

    def _share(
        self,
        key: tuple[Path, str],
        name: str,
        schema: JsonObject,
        path: Path,
        referrer: Path | None = None,
        where: str | None = None,
    ) -> str:
        """The name under `defs` of the shared class for the object schema at `key`."""
        if key in self._names:
            return self._names[key]
        if name in self._owners:
            first, second = (f"{p.as_posix()}#{f}" for p, f in (self._owners[name], key))
            raise SchemaError(
                referrer or path,
                f"{name!r} names two different schemas ({first} and {second}); rename one",
                where if referrer else key[1],
            )
        self._names[key], self._owners[name] = name, key
        self.defs[name] = {}  # taken before its own references are followed: recursion ends here
        walked = self._walk(schema, path, key[1])
        assert isinstance(walked, dict)
        self.defs[name] = walked
        return name

    def _document(self, path: Path, referrer: Path, where: str) -> JsonObject:
        if path not in self._documents:
            if not (self._root / path).is_file():
                raise SchemaError(referrer, f"cannot read {path.as_posix()}: no such file", where)
            self._documents[path] = load_schema(self._root / path, path)
        return self._documents[path]


def _is_model(schema: object) -> bool:
    """An object schema with properties: a class of its own, not a value to inline."""
    return (
        isinstance(schema, dict) and isinstance(schema.get("properties"), dict) and bool(schema["properties"])
    )


def _lookup(document: object, pointer: str) -> object | None:
    """RFC 6901: the part of `document` at `pointer` ("" is the whole), or None."""
    node = document
    for token in (_unescape(t) for t in pointer.split("/")[1:]):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _normal(path: Path) -> Path:
    """`schemas/./units.yaml` and `schemas/sub/../units.yaml` are `schemas/units.yaml`."""
    return Path(os.path.normpath(path))
