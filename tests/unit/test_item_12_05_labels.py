"""Issue 12 item 5 without services: what `Register(worker_labels=…)` and `scythe worker --label`
accept, and that both sides read a label the same way (the engine compares them as given)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import scythe
from worker_witness import WitnessInput, WitnessOutput, gpu_witness

from scythe.errors import ExperimentDefinitionError
from scythe.registry import ExperimentRegistry, worker_labels_of


def test_item_12_05_register_keeps_the_labels_an_experiment_needs() -> None:
    assert gpu_witness.options.worker_labels == (("gpu", "true"),)


@pytest.mark.parametrize(
    ("needed", "offered"),
    [
        ({"gpu": True}, "true"),
        ({"gpu": "TRUE"}, "true"),
        ({"memory_gib": 64}, "64"),
        ({"zone": "eu-1"}, "eu-1"),
    ],
)
def test_item_12_05_a_registered_label_reads_as_the_same_label_offered(
    needed: dict[str, object], offered: str
) -> None:
    [key] = needed
    assert worker_labels_of(needed) == worker_labels_of({key: offered})


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        ({"a b": True}, "label 'a b': use 1 to 64 ASCII letters"),
        ({"gpu": ""}, "label 'gpu': '' is not a bool, an int or a non-empty string"),
        ({"gpu": 1.5}, "label 'gpu': 1.5 is not a bool"),
        ({"memory": 2**40}, "label 'memory': 1099511627776 does not fit the engine's 32-bit int labels"),
    ],
)
def test_item_12_05_register_refuses_a_label_the_engine_cannot_match(
    labels: dict[str, object], says: str
) -> None:
    def fn(input_spec: WitnessInput) -> WitnessOutput:
        raise AssertionError("never called")

    with pytest.raises(ExperimentDefinitionError, match=f"^worker_labels: {re.escape(says)}"):
        ExperimentRegistry.Register(name="labelled", worker_labels=labels)(fn)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("gpu", "--label takes KEY=VALUE, not 'gpu'"),
        ("a b=1", "label 'a b': use 1 to 64 ASCII letters, digits, '.', '-' or '_'"),
    ],
)
def test_item_12_05_worker_refuses_a_malformed_label_before_connecting(
    label: str, says: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCYTHE_", "HATCHET_"))}
    done = scythe(["worker", "worker_witness:gpu_witness", "--label", label], env, tmp_path)
    assert (done.returncode, done.stderr.strip()) == (1, f"error: {says}")
