"""Values Arrow cannot hold fail one spec, or allocation, with a message naming the field
(robustness issue, items 7 and 11): never a traceback from the batch, the gather or resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scythe import allocate
from scythe.errors import DesignError
from scythe.registry import ExperimentRegistry
from scythe.specs import ExperimentInputSpec, ExperimentOutputSpec


class XInput(ExperimentInputSpec):
    x: float


class BigOutput(ExperimentOutputSpec):
    n: int


@ExperimentRegistry.Register(name="arrow_big_int")
def big_int(input_spec: XInput) -> BigOutput:
    """2**70 for x == 1, else x."""
    return BigOutput(n=2**70 if input_spec.x == 1 else int(input_spec.x))


class MixedOutput(ExperimentOutputSpec):
    v: float | str


@ExperimentRegistry.Register(name="arrow_mixed")
def mixed(input_spec: XInput) -> MixedOutput:
    """ "auto" for x == 1, else x."""
    return MixedOutput(v="auto" if input_spec.x == 1 else input_spec.x)


class BigDesign(ExperimentInputSpec):
    k: int


class KOutput(ExperimentOutputSpec):
    y: float


@ExperimentRegistry.Register(name="arrow_big_design")
def big_design(input_spec: BigDesign) -> KOutput:
    return KOutput(y=1.0)


class MixedDesign(ExperimentInputSpec):
    w: float | str


@ExperimentRegistry.Register(name="arrow_mixed_design")
def mixed_design(input_spec: MixedDesign) -> KOutput:
    return KOutput(y=1.0)


def _final(store: Path, prefix: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(store / prefix / "final" / f"{name}.pq")


def test_item_07_int_beyond_int64_fails_that_spec_alone(store: Path) -> None:
    design = [{"x": float(i)} for i in range(3)]
    result = allocate(big_int, design, store=str(store), workers=1, progress=False)
    assert result.finished
    assert (result.succeeded, result.failed) == (2, 1)
    scalars = _final(store, result.run.prefix, "scalars")
    assert scalars["n"].tolist() == [0, 2]
    errors = _final(store, result.run.prefix, "errors").reset_index()
    assert errors["sort_index"].tolist() == [1]
    assert errors["message"].iloc[0] == f"output 'n': {2**70} does not fit a 64-bit integer"


@pytest.mark.parametrize("batch_size", [None, 1])
def test_item_07_float_or_str_output_is_one_string_column(store: Path, batch_size: int | None) -> None:
    design = [{"x": float(i)} for i in range(3)]
    result = allocate(mixed, design, store=str(store), workers=1, progress=False, batch_size=batch_size)
    assert result.finished
    assert (result.succeeded, result.failed) == (3, 0)
    scalars = _final(store, result.run.prefix, "scalars")
    # A union of several scalar types is stored as each value's JSON text: lossless, one type.
    assert scalars["v"].tolist() == ["0.0", '"auto"', "2.0"]


def test_item_11_design_int_beyond_int64_is_a_design_error(store: Path) -> None:
    design = [{"k": 1}, {"k": 2**70}, {"k": -(2**64)}]
    with pytest.raises(DesignError) as caught:
        allocate(big_design, design, store=str(store), workers=1, progress=False)
    text = str(caught.value)
    assert f"row 2, field 'k': {2**70} does not fit a 64-bit integer" in text
    assert f"row 3, field 'k': {-(2**64)} does not fit a 64-bit integer" in text
    assert "row 1" not in text


def test_item_11_design_float_or_str_column_is_a_design_error(store: Path) -> None:
    design = [{"w": 1.5}, {"w": "auto"}, {"w": 2.5}]
    with pytest.raises(DesignError) as caught:
        allocate(mixed_design, design, store=str(store), workers=1, progress=False)
    assert "row 2, field 'w': 'auto' is a str, but row 1 holds a number" in str(caught.value)
    assert "row 3" not in str(caught.value)


def test_item_11_design_types_drifting_between_chunks_is_a_design_error(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scythe.run import staging

    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)
    design = [{"w": 1.5}, {"w": 2.5}, {"w": "auto"}, {"w": "manual"}]
    with pytest.raises(DesignError) as caught:
        allocate(mixed_design, design, store=str(store), workers=1, progress=False)
    assert "field 'w': rows hold different types (double from row 1, string from row 3)" in str(caught.value)
    assert not store.exists() or not any(store.rglob("manifest*"))


def test_ordinary_int_outputs_are_unchanged(store: Path) -> None:
    result = allocate(big_int, [{"x": 3.0}], store=str(store), workers=1, progress=False)
    assert _final(store, result.run.prefix, "scalars")["n"].tolist() == [3]
