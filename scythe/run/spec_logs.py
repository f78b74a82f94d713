"""What each spec logged (`input_spec.log`) and printed, kept per spec in its batch's `log.txt`.

A spec process sends its batch everything the specs wrote to stdout, stderr and the task logger
(one buffer, `scythe.run.isolation.child_loop`); the batch stores it as
`scatter-gather/results/NNNNNN/log.txt` beside its shard. `section` marks where each spec's text
begins, with a header line naming its sort_index, and keeps only the last `LIMIT` characters of
a spec that writes more, so `scythe logs RUN --spec N` can show one spec's words and one chatty
spec cannot fill the store. A spec that writes nothing costs two `tell()` calls and no header.
"""

from __future__ import annotations

import io
import re
from types import TracebackType

from scythe.run.layout import RESULTS, RunRef
from scythe.store import Store

LIMIT = 64 * 1024  # characters of a spec's own text kept: its last ones
LOG_FILE = "log.txt"
_HEADER = "==> scythe spec {} <==\n"
_HEADER_LINE = re.compile(r"^==> scythe spec (\d+) <==$", re.MULTILINE)


class section:  # a context manager used like a function: `with section(log, n):`
    """Marks, in `log`, the text one spec writes while the block runs (a small class rather than
    a generator: it runs once per spec, and a no-op spec must not pay for it)."""

    __slots__ = ("log", "sort_index", "start")

    def __init__(self, log: io.StringIO, sort_index: int) -> None:
        self.log, self.sort_index = log, sort_index
        self.start = 0

    def __enter__(self) -> None:
        self.start = self.log.tell()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.log.tell() == self.start:
            return
        text = self.log.getvalue()[self.start :]
        if len(text) > LIMIT:
            text = (
                f"[… {len(text) - LIMIT} characters cut: this spec's last {LIMIT} follow]\n" + text[-LIMIT:]
            )
        self.log.seek(self.start)
        self.log.truncate()
        self.log.write(_HEADER.format(self.sort_index) + text + ("" if text.endswith("\n") else "\n"))


def split(text: str) -> tuple[str, dict[int, str]]:
    """A batch's log as (text before any spec's header, each spec's text by sort_index)."""
    marks = list(_HEADER_LINE.finditer(text))
    before = text[: marks[0].start()] if marks else text
    specs: dict[int, str] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        specs[int(mark.group(1))] = specs.get(int(mark.group(1)), "") + text[mark.end() + 1 : end]
    return before, specs


def batch_logs(store: Store, run: RunRef) -> dict[int, str]:
    """Every batch's log.txt (batches whose specs wrote nothing have none), by batch number."""
    folder = run.key(f"{RESULTS}/")
    logs = {}
    for key in store.list_keys(folder):
        batch, _, name = key.removeprefix(folder).partition("/")
        if name == LOG_FILE and batch.isdigit():
            logs[int(batch)] = store.get_bytes(key).decode(errors="replace")
    return dict(sorted(logs.items()))


def spec_log(store: Store, run: RunRef, sort_index: int, batch_size: int) -> str | None:
    """What spec `sort_index` wrote, or None if it wrote nothing (or its batch has not run).

    Its batch is `sort_index // batch_size` in a plain run; any other batch's log is read only
    if that one does not hold it (a run whose batches were cut otherwise)."""
    expected = run.shard(sort_index // batch_size, LOG_FILE)
    if store.exists(expected):
        found = split(store.get_bytes(expected).decode(errors="replace"))[1].get(sort_index)
        if found is not None:
            return found
    for text in batch_logs(store, run).values():
        found = split(text)[1].get(sort_index)
        if found is not None:
            return found
    return None
