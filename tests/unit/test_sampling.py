from __future__ import annotations

import pytest
from sample_experiments import PointInput

from scythe import ScytheError, sample_design


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_samples_stay_inside_bounds(method: str) -> None:
    design = sample_design(PointInput, 64, method, seed=3)  # type: ignore[arg-type]
    assert list(design.columns) == ["x", "n", "mode"]
    assert design["x"].between(0, 100).all()
    assert design["n"].between(1, 5).all()
    assert set(design["n"]) == {1, 2, 3, 4, 5}
    assert set(design["mode"]) == {"fast", "slow"}
    assert design.equals(sample_design(PointInput, 64, method, seed=3))  # type: ignore[arg-type]


def test_lhs_puts_one_point_in_each_stratum() -> None:
    design = sample_design(PointInput, 50, "lhs", seed=1)
    strata = sorted(int(x // 2) for x in design["x"])  # 50 strata of width 2 over [0, 100]
    assert strata == list(range(50))


def test_fixed_values_and_unsamplable_fields() -> None:
    design = sample_design(PointInput, 5, fixed={"mode": "slow"})
    assert set(design["mode"]) == {"slow"}
    from scythe.specs import ExperimentInputSpec

    class Free(ExperimentInputSpec):
        name: str

    with pytest.raises(ScytheError, match="--set name=VALUE"):
        sample_design(Free, 3)
    with pytest.raises(ScytheError, match="at least 1"):
        sample_design(PointInput, 0)
