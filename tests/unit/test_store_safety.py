"""Names and keys never leave the store or DEST, and store files are as readable as `open()`'s
(robustness issue, items 2, 3 and 4)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from sample_experiments import PointInput, square

from scythe import LocalStore, allocate
from scythe.errors import ScytheError
from scythe.experiments import BaseExperiment
from scythe.results import export
from scythe.run import layout
from scythe.run.layout import FINAL, RunRef

RUN = {"store": "/s", "experiment": "e", "version": "v1.0.0", "run_id": "2026-01-01_00-00-00"}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# Item 2 ─ every name that becomes a store path goes through one validator.


def test_item_02_run_name_cannot_escape_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outer = tmp_path / "outer"
    store = outer / "inner" / "store"  # "../../evilrun" from here is outer/evilrun
    monkeypatch.setenv("SCYTHE_STORE", str(store))
    with pytest.raises(ScytheError, match=r"'\.\./\.\./evilrun' cannot name an experiment"):
        BaseExperiment(runnable=square, run_name="../../evilrun").allocate([PointInput(x=1.0)])
    assert not list(tmp_path.rglob("*evilrun*"))
    assert not outer.exists() or files_under(outer) == []  # refused before the store was touched


@pytest.mark.parametrize(
    "name",
    [
        "building_energy",
        "square",
        "unit_ok",
        "chunked_site",
        "v1.0.0",
        "v12.340.5",
        "2026-01-01_00-00-00",
        "scalars.pq",
        "df-series.pq",
        "_SUCCESS.json",
        "log.txt",
        "report-0.txt",
        "timeseries.pq",
        "a..b",
        "x" * 200,
    ],
)
def test_item_02_store_name_accepts_the_names_scythe_uses(name: str) -> None:
    assert layout.store_name(name, "an experiment") == name
    assert layout.is_store_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "it is empty"),
        ("a/b", "separator"),
        ("../../evilrun", "separator"),
        ("a\\b", "separator"),
        ("C:\\evil", "separator"),
        (".", "'.' and '..'"),
        ("..", "'.' and '..'"),
        (".hidden", "starts with '.'"),
        (" padded", "whitespace"),
        ("padded\n", "whitespace"),
        ("nul\x00byte", "control character"),
        ("bell\x07", "control character"),
        ("x" * 201, "201 characters"),
        ("has space", "letters, digits"),
        ("énergie", "letters, digits"),
        ("semi;colon", "letters, digits"),
    ],
)
def test_item_02_store_name_refuses_each_bad_kind(name: str, why: str) -> None:
    with pytest.raises(ScytheError) as caught:
        layout.store_name(name, "a version")
    message = str(caught.value)
    assert message.startswith(f"{name!r} cannot name a version: ")
    assert why in message
    assert "\n" not in message
    assert not layout.is_store_name(name)


@pytest.mark.parametrize("field", ["experiment", "version", "run_id"])
@pytest.mark.parametrize("bad", ["..", "a/b", ".git", ""])
def test_item_02_runref_refuses_bad_parts_with_a_scythe_error(field: str, bad: str) -> None:
    with pytest.raises(ScytheError, match="cannot name"):
        RunRef(**{**RUN, field: bad})
    with pytest.raises(ScytheError, match="cannot name"):  # also when it arrives as a task's JSON
        RunRef.model_validate_json(RunRef(**RUN).model_copy(update={field: bad}).model_dump_json())


def test_item_02_runref_keys_refuse_user_names_that_escape() -> None:
    run = RunRef(**RUN)
    assert run.output_file(3, "report", "report-3.txt").endswith("/outputs/000000003/report/report-3.txt")
    assert run.shard(2, "df-series.pq").endswith("/scatter-gather/results/000002/df-series.pq")
    assert run.final("monthly") == f"{run.prefix}/final/monthly.pq"
    for bad_call in (
        lambda: run.output_file(0, "report", ".."),
        lambda: run.output_file(0, "../x", "a.txt"),
        lambda: run.shard(0, "../../../../evil.pq"),
        lambda: run.final("../evil"),
    ):
        with pytest.raises(ScytheError, match="cannot name"):
            bad_call()


# Item 3 ─ `results download` refuses store keys that would escape DEST.


def test_item_03_download_refuses_keys_that_escape_dest(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = allocate(square, pd.DataFrame({"x": [1.0, 2.0]}), store=str(store), workers=1, progress=False)
    run = result.run
    hostile = f"{run.prefix}/{FINAL}/../../../evil.pq"  # lands beside DEST, not in it
    (store / run.experiment / "evil.pq").write_bytes(b"not yours")  # so the copy itself would work
    honest = LocalStore.list_keys

    def list_keys(self: LocalStore, prefix: str) -> list[str]:
        keys = honest(self, prefix)
        return [*keys, hostile] if prefix.endswith(f"/{FINAL}") else keys

    monkeypatch.setattr(LocalStore, "list_keys", list_keys)
    dest = tmp_path / "dl" / "dest"
    with pytest.raises(ScytheError, match=r"final/\.\./\.\./\.\./evil\.pq"):
        export.download(run.run_id, dest, store=str(store))
    assert not (tmp_path / "dl" / "evil.pq").exists()
    assert files_under(tmp_path / "dl") == []  # nothing half-downloaded either


def test_item_03_download_refuses_absolute_and_foreign_keys(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = allocate(square, pd.DataFrame({"x": [1.0]}), store=str(store), workers=1, progress=False)
    run = result.run
    absolute = f"{run.prefix}/{tmp_path.as_posix()}/abs/evil.pq"  # e/v/r//tmp/…: DEST / it is absolute
    foreign = "other/v1.0.0/2026-01-01_00-00-00/final/evil.pq"
    dotted = f"{run.prefix}/final/./evil.pq"
    cases = [(absolute, "absolute"), (foreign, "not under the run's prefix"), (dotted, r"'\.' or '\.\.'")]
    for hostile, why in cases:
        monkeypatch.setattr(LocalStore, "list_keys", lambda self, prefix, k=hostile: [k])
        with pytest.raises(ScytheError, match=rf"{re.escape(repr(hostile))}: .*{why}"):
            export.download(run.run_id, tmp_path / "dest", store=str(store))
        assert not (tmp_path / "dest").exists()


def test_item_03_download_still_copies_an_honest_run(tmp_path: Path, store: Path) -> None:
    result = allocate(square, pd.DataFrame({"x": [1.0, 2.0]}), store=str(store), workers=1, progress=False)
    written = export.download(result.run.run_id, tmp_path / "dest", store=str(store))
    root = tmp_path / "dest" / result.run.run_id
    assert root / "final" / "scalars.pq" in written
    assert all(p.is_file() and p.is_relative_to(root) for p in written)


# Item 4 ─ store files honour the umask like `open()` does.


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o002, 0o664), (0o077, 0o600), (0o022, 0o644)])
def test_item_04_store_files_honour_the_umask(tmp_path: Path, store: Path, mask: int, expected: int) -> None:
    previous = os.umask(mask)
    try:
        paths = _write_every_kind(tmp_path, store)
    finally:
        os.umask(previous)
    assert {p.relative_to(tmp_path).as_posix(): oct(mode(p)) for p in paths} == {
        p.relative_to(tmp_path).as_posix(): oct(expected) for p in paths
    }


def _write_every_kind(tmp_path: Path, store: Path) -> list[Path]:
    """One file of each way the store writes: put_bytes, put_file, get_file, claim, a whole run."""
    local = LocalStore(store)
    local.put_bytes("a/bytes.bin", b"1")
    source = tmp_path / "source.txt"
    source.write_text("2")
    source.chmod(0o600)  # a copy's mode comes from the umask, not from its source
    local.put_file("a/file.txt", source)
    local.get_file("a/file.txt", tmp_path / "got" / "file.txt")
    assert local.claim("a/claim.json", b"{}")
    result = allocate(square, pd.DataFrame({"x": [1.0, 2.0]}), store=str(store), workers=1, progress=False)
    finals = sorted((store / result.run.prefix / FINAL).glob("*.pq"))
    assert {"scalars.pq", "series.pq"} <= {p.name for p in finals}
    paths = [store / "a" / "bytes.bin", store / "a" / "file.txt", tmp_path / "got" / "file.txt"]
    return [*paths, store / "a" / "claim.json", store / result.run.prefix / "manifest.yml", *finals]
