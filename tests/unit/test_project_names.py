"""Names that would break a generated project are refused up front, with the reason (item 12).

Package names (`scythe new class`, `scythe new pandas`), schema property names that pydantic could
only hold under an alias or that shadow what the spec classes define, numeric enums kept exactly,
and `$ref`s to other schema files resolved from the schema file, whatever the working directory.
"""

from __future__ import annotations

import keyword
import re
import sys
import typing
from pathlib import Path
from types import ModuleType

import jinja2
import pytest
import yaml
from conftest import ROOT
from test_codegen import import_module

from scythe.errors import SchemaError, ScytheError
from scythe.project import codegen, names, scaffold, schema_lint
from scythe.sampling import sample_design
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec

INPUT = """\
title: SweepInput
type: object
required: [alpha]
properties:
  alpha: {type: number, minimum: 0.5, maximum: 15, description: "Thermal resistance [m2K/W]."}
"""
OUTPUT = """\
title: SweepOutput
type: object
properties:
  score: {type: number, description: "The score [-]."}
"""
COPIER_YML = ROOT / "template" / "copier.yml"
_imported = 0


def make_project(root: Path, input_text: str = INPUT, output_text: str = OUTPUT) -> codegen.SpecsLayout:
    (root / "schemas").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "sweep"\nversion = "0.1.0"\n\n[tool.scythe]\nspecs = "src/sweep/specs.py"\n'
    )
    (root / "schemas" / "input.schema.yaml").write_text(input_text)
    (root / "schemas" / "output.schema.yaml").write_text(output_text)
    return codegen.layout(root)


def generated(layout: codegen.SpecsLayout) -> ModuleType:
    """Write the spec module and import it under a fresh name."""
    global _imported
    codegen.write(layout)
    _imported += 1
    return import_module(layout.module, f"item_12_specs_{_imported}")


def with_property(name: str, schema: str = "{type: number}", role: str = "input") -> tuple[str, str]:
    """The two schema texts, one of them with an extra property."""
    extra = f"  {name}: {schema}\n"
    return (INPUT + extra, OUTPUT) if role == "input" else (INPUT, OUTPUT + extra)


# --- 1. package names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "data", "expected"),
    [
        ("class", {}, "package name 'class' is a Python keyword"),
        ("import", {}, "package name 'import' is a Python keyword"),
        ("sys", {}, "package name 'sys' would shadow the standard-library module sys"),
        ("json", {}, "package name 'json' would shadow the standard-library module json"),
        (
            "pandas",
            {},
            "package name 'pandas' would shadow the pandas package the project depends on: "
            "choose another (--data package_name=...)",
        ),
        ("heat-sweep", {"package_name": "numpy"}, "'numpy' would shadow the numpy package the project"),
        ("heat-sweep", {"package_name": "pydantic"}, "'pydantic' would shadow the pydantic package"),
        ("heat-sweep", {"package_name": "hatchet_sdk"}, "'hatchet_sdk' would shadow the hatchet_sdk"),
        ("heat-sweep", {"package_name": "boto3"}, "'boto3' would shadow the boto3 package"),
        ("heat-sweep", {"package_name": "yaml"}, "'yaml' would shadow the yaml package"),  # pyyaml's
        ("heat-sweep", {"package_name": "pytest"}, "'pytest' would shadow the pytest package"),
        ("heat-sweep", {"package_name": "allocate"}, "'allocate' would shadow the project's own scripts"),
        ("scythe", {}, "package name 'scythe' would shadow the scythe package the project depends on"),
    ],
)
def test_item_12_package_names_that_break_the_project_are_refused_before_anything_is_written(
    tmp_path: Path, folder: str, data: dict[str, str], expected: str
) -> None:
    destination = tmp_path / folder
    with pytest.raises(ScytheError) as caught:
        scaffold.new(destination, data={**data}, defaults=True)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "--data package_name=..." in message
    assert not destination.exists()  # nothing half-rendered


@pytest.mark.parametrize("folder", ["scythe", "pandas", "hatchet-sdk", "pyyaml"])
def test_item_12_a_project_named_like_a_dependency_is_refused_even_with_a_good_package(
    tmp_path: Path, folder: str
) -> None:
    destination = tmp_path / folder
    with pytest.raises(ScytheError) as caught:
        scaffold.new(destination, data={"package_name": "my_sweep"}, defaults=True)
    message = str(caught.value)
    assert f"project name {folder!r} is the name of a distribution the project depends on" in message
    assert "--data project_name=..." in message
    assert "\n" not in message
    assert not destination.exists()


def test_item_12_a_name_both_shadowing_and_clashing_gives_both_reasons_on_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScytheError) as caught:
        scaffold.new(tmp_path / "scythe", defaults=True)
    message = str(caught.value)
    assert "package name 'scythe' would shadow" in message
    assert "project name 'scythe' is the name of a distribution" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["match", "case", "type", "heat_sweep", "sweep2", "my_pandas"])
def test_item_12_soft_keywords_and_ordinary_names_are_fine(name: str) -> None:
    assert names.package_name_problem(name) is None
    assert names.project_name_problem(name.replace("_", "-")) is None


def test_item_12_the_dependency_names_come_from_what_the_project_depends_on() -> None:
    shadowed = names.shadowed_imports()
    for name in (
        "scythe",
        "pydantic",
        "pandas",
        "numpy",
        "pyarrow",
        "hatchet_sdk",
        "boto3",
        "yaml",
        "pytest",
    ):
        assert name in shadowed, name
    assert "json" not in shadowed  # stdlib is its own reason
    assert "mypy" not in shadowed  # scythe's dev tool, not the project's


def _copier_validator(question: str) -> jinja2.Template:
    config = yaml.safe_load(COPIER_YML.read_text())
    env = jinja2.Environment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
    return env.from_string(config[question]["validator"])


def test_item_12_the_copier_validator_agrees_with_the_python_check() -> None:
    validator = _copier_validator("package_name")
    valid = re.compile(r"^[a-z][a-z0-9_]*$")
    must_refuse = {n for n in keyword.kwlist if valid.match(n)}
    must_refuse |= {n for n in sys.stdlib_module_names if valid.match(n)}
    must_refuse |= {"scythe", "pydantic", "pandas", "numpy", "pyarrow", "hatchet_sdk", "boto3", "yaml"}
    must_refuse |= {"pytest", "allocate"}
    for name in sorted(must_refuse):
        said = validator.render(package_name=name).strip()
        assert said, f"copier accepts {name!r}"
        assert said == names.package_name_problem(name), name
    for name in ("match", "case", "type", "heat_sweep"):
        assert validator.render(package_name=name).strip() == ""
    # Whatever copier refuses, the Python check refuses too, with the same words.
    listed = set(re.findall(r"[a-z][a-z0-9_]*", COPIER_YML.read_text()))
    for name in sorted(listed):
        said = validator.render(package_name=name).strip()
        if said and valid.match(name):
            assert said == names.package_name_problem(name), name
    project = _copier_validator("project_name")
    for name in ("scythe", "pandas", "hatchet-sdk", "pyyaml", "datamodel-code-generator"):
        said = project.render(project_name=name).strip()
        assert said == names.project_name_problem(name), name
    assert project.render(project_name="heat-sweep").strip() == ""


def test_item_12_an_answer_typed_at_the_prompt_is_checked_before_the_specs_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interactively, copier asks for package_name itself: the recorded answer is checked after it."""
    import copier

    def typed_pandas(src: str, dst: str, **kwargs: object) -> None:
        Path(dst, ".copier-answers.yml").write_text(
            "_src_path: x\nproject_name: fine\npackage_name: pandas\n"
        )
        Path(dst, "pyproject.toml").write_text("[project]\n")

    monkeypatch.setattr(copier, "run_copy", typed_pandas)
    destination = tmp_path / "fine"
    with pytest.raises(ScytheError, match="package name 'pandas' would shadow the pandas package"):
        scaffold.new(destination)
    assert not destination.exists()


# --- 2. schema property names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role", "why"),
    [
        ("class", "input", "is a Python keyword"),
        ("import", "output", "is a Python keyword"),
        ("_private", "input", "starts with '_'"),
        ("model_config", "input", "pydantic"),
        ("model_name", "output", "pydantic"),
        ("json", "input", "BaseModel"),
        ("schema", "input", "BaseModel"),
        ("copy", "output", "BaseModel"),
        ("dict", "input", "BaseModel"),
        ("validate", "input", "BaseModel"),
        ("fetch", "input", "ExperimentInputSpec.fetch"),
        ("log", "input", "ExperimentInputSpec.log"),
        ("fetch_uri", "input", "ExperimentInputSpec.fetch_uri"),
        ("index_fields", "input", "ExperimentInputSpec.index_fields"),
        ("design_fields", "input", "ExperimentInputSpec.design_fields"),
        ("scalar_fields", "output", "ExperimentOutputSpec.scalar_fields"),
        ("file_fields", "output", "ExperimentOutputSpec.file_fields"),
        ("float", "input", "would rename it 'float_'"),  # named like its own type: the generator's
        ("str", "output", "would rename it 'str_'"),  # clash, caught in what it generates
        ("register", "output", "would rename it 'register_'"),
    ],
)
def test_item_12_property_names_pydantic_cannot_hold_as_they_are_are_refused(
    tmp_path: Path, name: str, role: str, why: str
) -> None:
    kind = "{type: string}" if name == "str" else "{type: number}"
    layout = make_project(tmp_path, *with_property(name, kind, role=role))
    with pytest.raises(SchemaError) as caught:
        codegen.render_project(layout)
    message = str(caught.value)
    assert message.startswith(f"schemas/{role}.schema.yaml#/properties/{name}: "), message
    assert why in message
    assert "rename it" in message
    assert "\n" not in message


def test_item_12_a_nested_property_needing_an_alias_is_refused_where_it_is(tmp_path: Path) -> None:
    nested = "{type: object, properties: {class: {type: string}}}"
    layout = make_project(tmp_path, *with_property("site", nested))
    with pytest.raises(SchemaError, match=r"input.schema.yaml#/properties/site/properties/class: 'class' is"):
        codegen.render_project(layout)


@pytest.mark.parametrize("role", ["input", "output"])
def test_item_12_every_attribute_of_the_spec_classes_is_refused_as_a_field_name(role: str) -> None:
    base = ExperimentInputSpec if role == "input" else ExperimentOutputSpec
    names = sorted(n for n in dir(base) if not (n.startswith("__") and n.endswith("__")))
    assert {"model_dump", "json", "copy"} <= set(names)
    for name in names:
        schema = yaml.safe_load(INPUT if role == "input" else OUTPUT)
        schema["properties"][name] = {"type": "number"}
        with pytest.raises(SchemaError, match=rf"#/properties/{name}: .*rename it"):
            schema_lint.check_schema(schema, Path("s.yaml"), typing.cast(schema_lint.Role, role))


def test_item_12_soft_keywords_and_builtin_names_stay_plain_fields(tmp_path: Path) -> None:
    extra = "".join(f"  {n}: {{type: string}}\n" for n in ("type", "match", "case", "id", "list", "Field"))
    specs = generated(make_project(tmp_path, INPUT + extra))
    assert specs.SweepInput.design_fields() == ["alpha", "type", "match", "case", "id", "list", "Field"]
    row = specs.SweepInput(alpha=1, type="a", match="b", Field="c")
    assert row.model_dump(exclude_none=True)["type"] == "a"
    assert "alias=" not in Path(specs.__file__).read_text()


# --- 3. numeric enums -------------------------------------------------------------------------


def choices(annotation: object) -> tuple[object, ...]:
    """The values of a `Literal[...]` or `Literal[...] | None` annotation."""
    if typing.get_origin(annotation) is not typing.Literal:
        (annotation,) = (a for a in typing.get_args(annotation) if a is not type(None))
    assert typing.get_origin(annotation) is typing.Literal
    return typing.get_args(annotation)


def test_item_12_numeric_enums_generate_exactly_their_values(tmp_path: Path) -> None:
    extra = (
        "  level: {type: number, enum: [1, 2.5, 3], default: 2.5, description: A level.}\n"
        "  factor: {type: number, enum: [0.5, 1.0]}\n"
        "  loose: {enum: [1, 2.5, 3]}\n"
        "  step: {type: integer, enum: [1, 2, 3]}\n"
    )
    layout = make_project(tmp_path, INPUT.replace("required: [alpha]", "required: [alpha, factor]") + extra)
    specs = generated(layout)
    inputs = specs.SweepInput
    assert choices(inputs.model_fields["level"].annotation) == (1, 2.5, 3)
    assert choices(inputs.model_fields["factor"].annotation) == (0.5, 1.0)
    assert choices(inputs.model_fields["loose"].annotation) == (1, 2.5, 3)
    assert choices(inputs.model_fields["step"].annotation) == (1, 2, 3)
    row = inputs(alpha=1, factor=0.5)
    assert row.level == 2.5  # the default, kept as a float
    assert inputs(alpha=1, factor=1.0, level=2.5).level == 2.5
    assert inputs(alpha=1, factor=1, level=3.0).model_dump(mode="json")["level"] == 3
    for bad in ({"level": 2}, {"level": 2.4}, {"factor": 0.75}, {"loose": 2}):
        with pytest.raises(ValueError, match="Input should be"):
            inputs(alpha=1, **{"factor": 0.5, **bad})
    schema = inputs.model_json_schema()["properties"]
    assert schema["level"]["enum"] == [1, 2.5, 3]
    assert schema["level"]["description"] == "A level."
    assert schema["factor"]["enum"] == [0.5, 1.0]
    # A sampled design only ever holds the listed values.
    design = sample_design(inputs, 30, seed=3)
    assert set(design["factor"]) <= {0.5, 1.0}
    assert codegen.render_project(layout) == layout.module.read_text()  # deterministic


def test_item_12_a_non_finite_enum_value_is_refused(tmp_path: Path) -> None:
    layout = make_project(tmp_path, *with_property("level", "{type: number, enum: [1, .inf]}"))
    with pytest.raises(SchemaError, match=r"#/properties/level/enum: .*finite"):
        codegen.render_project(layout)


# --- 4. $ref to other schema files ------------------------------------------------------------

REF_INPUT = """\
title: SweepInput
type: object
required: [alpha, site]
properties:
  alpha: {$ref: "common.yaml#/definitions/resistance"}
  beta: {$ref: "./units.yaml", description: "Beta [-]."}
  gamma: {$ref: "#/definitions/local"}
  site: {$ref: "common.yaml#/definitions/site"}
definitions:
  local: {type: integer, minimum: 1, maximum: 4, default: 2}
"""
COMMON = """\
definitions:
  resistance: {type: number, minimum: 0.5, maximum: 15, description: "Thermal resistance [m2K/W]."}
  site:
    type: object
    required: [lat]
    properties:
      lat: {type: number}
      code: {$ref: "#/definitions/code"}
  code: {type: string, enum: [a, b]}
"""
UNITS = "type: number\nminimum: 0\nmaximum: 1\n"
REF_OUTPUT = OUTPUT + '  spread: {$ref: "parts/out.yaml#/$defs/spread"}\n'
PARTS = "$defs:\n  spread: {type: number, minimum: 0, description: Peak minus mean.}\n"


def ref_project(root: Path) -> codegen.SpecsLayout:
    layout = make_project(root, REF_INPUT, REF_OUTPUT)
    (layout.schemas / "common.yaml").write_text(COMMON)
    (layout.schemas / "units.yaml").write_text(UNITS)
    (layout.schemas / "parts").mkdir()
    (layout.schemas / "parts" / "out.yaml").write_text(PARTS)
    return layout


def test_item_12_refs_resolve_relative_to_the_schema_file_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = ref_project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = codegen.render_project(layout)
    monkeypatch.chdir(layout.schemas)
    assert codegen.render_project(layout) == text  # the working directory changes nothing
    monkeypatch.chdir(elsewhere)
    specs = generated(layout)
    inputs, outputs = specs.SweepInput, specs.SweepOutput
    assert inputs.design_fields() == ["alpha", "beta", "gamma", "site"]
    schema = inputs.model_json_schema()
    alpha = schema["properties"]["alpha"]
    assert (alpha["type"], alpha["minimum"], alpha["maximum"]) == ("number", 0.5, 15)
    assert alpha["description"] == "Thermal resistance [m2K/W]."
    assert schema["properties"]["beta"]["description"] == "Beta [-]."  # a sibling of $ref wins
    assert (schema["properties"]["gamma"]["minimum"], inputs.model_fields["gamma"].default) == (1, 2)
    row = inputs(alpha=2, site={"lat": 1.5, "code": "a"})
    assert row.alpha == 2.0
    assert row.site.code == "a"  # the nested object, with its own internal $ref resolved
    with pytest.raises(ValueError, match="less than or equal to 15"):
        inputs(alpha=20, site={"lat": 0})
    with pytest.raises(ValueError, match="less than or equal to 1"):
        inputs(alpha=2, beta=3, site={"lat": 0})
    assert outputs.scalar_fields() == ["score", "spread"]  # from schemas/parts/out.yaml
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        outputs(score=1, spread=-1)
    design = sample_design(inputs, 5, fixed={"site": {"lat": 0.0}})  # alpha sampled in its bounds
    assert design["alpha"].between(0.5, 15).all()


def test_item_12_a_broken_ref_is_one_line_naming_the_file_and_the_pointer(tmp_path: Path) -> None:
    layout = ref_project(tmp_path)
    (layout.schemas / "units.yaml").unlink()
    with pytest.raises(SchemaError) as caught:
        codegen.render_project(layout)
    message = str(caught.value)
    assert message.startswith(
        "schemas/input.schema.yaml#/properties/beta/$ref: cannot read schemas/units.yaml"
    )
    assert "\n" not in message
    (layout.schemas / "units.yaml").write_text(UNITS)
    (layout.schemas / "common.yaml").write_text(COMMON.replace("minimum: 0.5", "minimum: low"))
    with pytest.raises(SchemaError, match=r"^schemas/common.yaml#/definitions/resistance/minimum: must be a"):
        codegen.render_project(layout)
    (layout.schemas / "common.yaml").write_text(COMMON.replace("\n  code: {", "\n  kode: {"))
    with pytest.raises(SchemaError, match=r"^schemas/common.yaml#/definitions/site/properties/code/\$ref: "):
        codegen.render_project(layout)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '  beta: {$ref: "#/$defs/a"}\n$defs:\n  a: {$ref: "#/$defs/b"}\n  b: {$ref: "#/$defs/a"}\n',
            r"#/\$defs/b/\$ref: '#/\$defs/a' refers back to itself",
        ),
        ('  beta: {$ref: "https://example.com/x.json"}\n', "only references to local schema files"),
        ('  beta: {$ref: "#definitions/x"}\n', "the part after # must be a JSON pointer"),
        ('  beta: {$ref: "#/$defs/nothing"}\n', "points at nothing: schemas/input.schema.yaml has no"),
    ],
)
def test_item_12_refs_that_cannot_be_followed_are_one_line(tmp_path: Path, extra: str, message: str) -> None:
    layout = make_project(tmp_path, INPUT + extra)
    with pytest.raises(SchemaError, match=message) as caught:
        codegen.render_project(layout)
    assert str(caught.value).startswith("schemas/input.schema.yaml#/")
    assert "\n" not in str(caught.value)


def test_item_12_a_recursive_object_ref_is_one_shared_class(tmp_path: Path) -> None:
    tree = (
        "{type: object, properties: {v: {type: number}, kids: {type: array, items: {$ref: '#/$defs/node'}}}}"
    )
    layout = make_project(tmp_path, INPUT + '  tree: {$ref: "#/$defs/node"}\n$defs:\n  node: ' + tree + "\n")
    specs = generated(layout)
    row = specs.SweepInput(alpha=1, tree={"v": 1, "kids": [{"v": 2}]})
    assert row.tree.kids[0].v == 2
    assert isinstance(row.tree.kids[0], specs.Node)
