"""Experiments that log and print, for `scythe logs` (issue 14 item 7); importable by module path."""

from __future__ import annotations

from pydantic import Field

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class ChatInput(ExperimentInputSpec):
    """How much a spec says."""

    words: int = Field(default=1, ge=0, description="0: silent; 1: a line each way; more: that many x's too.")
    fail: bool = Field(default=False, description="Raise after speaking.")


class ChatOutput(ExperimentOutputSpec):
    said: int


@ExperimentRegistry.Register(name="chatty")
def chatty(input_spec: ChatInput) -> ChatOutput:
    """Prints and logs what `words` asks for."""
    if input_spec.words:
        print(f"printed by spec {input_spec.sort_index}")
        input_spec.log(f"logged by spec {input_spec.sort_index}")
    if input_spec.words > 1:
        print("x" * input_spec.words, end="!")
    if input_spec.fail:
        raise RuntimeError("spoke, then failed")
    return ChatOutput(said=input_spec.words)
