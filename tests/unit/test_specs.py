from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AnyUrl, BaseModel

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec, FileReference
from scythe.errors import ExperimentDefinitionError
from scythe.registry import ExperimentRegistry, load_experiment
from scythe.specs import io_schema, is_file_reference
from scythe.utils.filesys import FileReference as CompatFileReference


class In(ExperimentInputSpec):
    """Inputs."""

    a: float
    f: FileReference
    g: FileReference | None = None


class Out(ExperimentOutputSpec):
    """Outputs."""

    b: float
    report: FileReference


def test_file_reference_parses_paths_and_urls() -> None:
    assert isinstance(In(a=1, f="data/w.csv").f, Path)
    assert isinstance(In(a=1, f="s3://bucket/key.csv").f, AnyUrl)
    assert isinstance(In(a=1, f="https://example.org/w.csv").f, AnyUrl)
    assert In(a=1, f="s3://bucket/key.csv").model_dump(mode="json")["f"] == "s3://bucket/key.csv"
    assert CompatFileReference is FileReference


def test_file_reference_fields_are_found() -> None:
    assert is_file_reference(In.model_fields["f"])
    assert is_file_reference(In.model_fields["g"])
    assert not is_file_reference(In.model_fields["a"])
    assert Out.scalar_fields() == ["b"]
    assert Out.file_fields() == ["report"]


def test_index_fields_put_bookkeeping_first() -> None:
    assert In.index_fields() == ["experiment_id", "sort_index", "root_workflow_run_id", "a", "f", "g"]


def test_io_schema_keeps_docstrings_and_descriptions() -> None:
    from sample_experiments import PointInput, PointOutput

    schema = io_schema(PointInput, PointOutput)
    assert schema["input_spec"]["description"] == "A point of a toy sweep."
    assert schema["input_spec"]["properties"]["x"]["description"] == "The abscissa."
    assert schema["output_spec"]["properties"]["y"]["description"] == "x squared."
    assert "dataframes" not in schema["output_spec"]["properties"]


def test_register_returns_callable_experiment() -> None:
    @ExperimentRegistry.Register(name="unit_ok", retries=2, timeout=5)
    def ok(input_spec: In) -> Out:
        return Out(b=input_spec.a, report=Path("x"))

    assert ok(In(a=2, f="x")).b == 2
    assert ok.options.retries == 2
    assert ExperimentRegistry.get("unit_ok") is ok


class NotASpec(BaseModel):
    a: float


def _no_input(input_spec: NotASpec) -> Out: ...
def _no_output(input_spec: In) -> NotASpec: ...
def _bad_tempdir(input_spec: In, tempdir: str) -> Out: ...
def _too_many(input_spec: In, tempdir: Path, extra: int) -> Out: ...
def _unannotated(input_spec, tempdir):  # type: ignore[no-untyped-def]
    ...


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_no_input, "first parameter with a subclass of ExperimentInputSpec"),
        (_no_output, "return type with a subclass of ExperimentOutputSpec"),
        (_bad_tempdir, "must be annotated `Path`"),
        (_too_many, "must take (input_spec) or (input_spec, tempdir: Path)"),
        (_unannotated, "first parameter with a subclass of ExperimentInputSpec"),
    ],
)
def test_register_rejects_bad_shapes(fn: object, message: str) -> None:
    with pytest.raises(ExperimentDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExperimentRegistry.Register()(fn)  # type: ignore[call-overload]
    assert issubclass(ExperimentDefinitionError, TypeError)


def test_register_rejects_bad_options() -> None:
    with pytest.raises(ExperimentDefinitionError, match="retries"):
        ExperimentRegistry.Register(retries=-1)

    def fine(input_spec: In) -> Out:
        return Out(b=1, report=Path("x"))

    with pytest.raises(ExperimentDefinitionError, match="cannot name"):
        ExperimentRegistry.Register(name="a/b")(fine)


def test_load_experiment_by_ref_and_name() -> None:
    exp = load_experiment("sample_experiments:square")
    assert exp.name == "square"
    assert load_experiment("square") is exp
    from scythe.errors import ScytheError

    with pytest.raises(ScytheError, match="no experiment named"):
        load_experiment("nope")
    with pytest.raises(ScytheError, match="cannot import"):
        load_experiment("no_such_module:fn")
    with pytest.raises(ScytheError, match="has no"):
        load_experiment("sample_experiments:nothing")
    with pytest.raises(ScytheError, match="not decorated"):
        load_experiment("sample_experiments:PointInput")
