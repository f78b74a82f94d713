"""Per-task context: the logger `spec.log()` writes to, and the settings `spec.fetch()` uses,
while a task runs.

Contextvars keep both correct when several tasks share a process (Hatchet slots, threads): user
code calls `spec.log()`/`spec.fetch()` without arguments, so the task path passes its logger and
its worker's settings down this way instead of the spec reading the environment again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scythe.settings import ScytheSettings

_DEFAULT = logging.getLogger("scythe.task")
_current: ContextVar[logging.Logger | logging.LoggerAdapter[logging.Logger]] = ContextVar(
    "scythe_task_logger", default=_DEFAULT
)


def task_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    return _current.get()


@contextlib.contextmanager
def using_logger(
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> Iterator[None]:
    token = _current.set(logger)
    try:
        yield
    finally:
        _current.reset(token)


_settings: ContextVar[ScytheSettings | None] = ContextVar("scythe_task_settings", default=None)


def task_settings() -> ScytheSettings | None:
    """The running task's settings (None outside a task)."""
    return _settings.get()


@contextlib.contextmanager
def using_settings(settings: ScytheSettings) -> Iterator[None]:
    token = _settings.set(settings)
    try:
        yield
    finally:
        _settings.reset(token)
