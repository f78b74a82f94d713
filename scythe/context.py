"""Per-task context: the logger that `spec.log()` writes to while a task runs.

A contextvar keeps it correct when several tasks share a process (Hatchet slots, threads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

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
