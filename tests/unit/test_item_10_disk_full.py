"""Items 10 and 11: a full disk or a read-only store is one line naming the path and the cause,
exit 1, no partial file, and `scythe resume` completes the run once the cause is gone.

Real filesystems, not mocks: each test mounts a small tmpfs (we run as root, so permissions
cannot simulate a read-only store, but `mount -o remount,ro` gives a real EROFS). The disk fills
or turns read-only *mid-run*, from inside a spec of `disk_experiments` (at a known spec, once),
so nothing here waits or sleeps.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import scythe

from scythe.store import LocalStore

SIZE = 4 * 1024 * 1024  # holds a run of a few specs; the ballast takes the rest
N_SPECS = 8  # four batches of two (-w 1: in order); the disk fills at spec 5, in batch 2
ACTING_SPEC = 5


@dataclass
class Disk:
    """A tmpfs mounted at `path` for one test."""

    path: Path

    def remount(self, mode: str) -> None:
        _mount(["-o", f"remount,{mode}", str(self.path)])


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(
            f"these tests need to mount a tmpfs (root or CAP_SYS_ADMIN): `mount {' '.join(args)}` "
            f"said: {proc.stderr.strip()}"
        )


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    path = tmp_path / "disk"
    path.mkdir()
    _mount(["-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(path)])
    try:
        yield Disk(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # something still holds a file


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The CLI's whole stderr, which must be one `error:` line and exit 1."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _design(tmp_path: Path, action: str, target: Path, **extra: object) -> Path:
    """`N_SPECS` specs of `disk_experiments:hog`; spec `ACTING_SPEC` does `action` once."""
    arm = tmp_path / "arm"
    arm.touch()
    rows = [
        {"x": float(i), "action": action if i == ACTING_SPEC else "none", "target": str(target)}
        | {"arm": str(arm), **extra}
        for i in range(N_SPECS)
    ]
    path = tmp_path / "design.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _run(
    design: Path, store: Path, env: dict[str, str], cwd: Path, experiment: str = "hog"
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`scythe run` of `design` on `store`, batches of two, one worker; and the run's prefix."""
    args = ["run", f"disk_experiments:{experiment}", "-d", str(design), "-s", str(store)]
    proc = scythe([*args, "--batch-size", "2", "-w", "1", "-q"], env, cwd)
    manifests = list(store.glob("*/*/*/manifest.yml"))
    assert len(manifests) == 1, proc.stdout + proc.stderr
    return proc, manifests[0].parent.relative_to(store).as_posix()


def _no_partial_files(store: Path) -> None:
    """Every file in the store is whole: no temp file, every Parquet file has its footer."""
    files = [p for p in store.rglob("*") if p.is_file()]
    assert files, "the store is empty"
    assert [p for p in files if p.name.endswith((".part", ".tmp")) or p.name.startswith(".")] == []
    for path in files:
        if path.suffix == ".pq":
            pq.read_metadata(path)


def _committed(store: Path, prefix: str) -> list[int]:
    return sorted(int(p.parent.name) for p in (store / prefix).glob("scatter-gather/results/*/_SUCCESS.json"))


def _assert_complete(store: Path, prefix: str) -> None:
    scalars = pd.read_parquet(store / prefix / "final" / "scalars.pq")
    assert list(scalars.index.get_level_values("sort_index")) == list(range(N_SPECS))  # each once
    assert list(scalars["y"]) == [float(i) ** 2 for i in range(N_SPECS)]


def test_item_10_disk_full_mid_run_is_one_line_and_resume_completes(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store, ballast = disk.path / "store", disk.path / "ballast"
    proc, prefix = _run(_design(tmp_path, "fill", ballast), store, cli_env, tmp_path)
    shard = store / prefix / "scatter-gather" / "results" / "000002" / "scalars.pq"
    resume = f"scythe resume {prefix} --store {store}"
    assert _one_line(proc) == (
        f"error: cannot write {shard}: no space left on device (free some space, then: {resume})"
    )
    assert _committed(store, prefix) == [0, 1]  # what was finished before the disk filled is kept
    assert not (store / prefix / "final").exists()
    _no_partial_files(store)
    ballast.unlink()  # space is back
    resumed = scythe(["resume", prefix, "--store", str(store), "-q"], cli_env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete(store, prefix)


def test_item_11_disk_full_before_a_run_is_one_line_and_nothing_written(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from disk_experiments import fill

    fill(disk.path / "ballast")
    store = disk.path / "store"
    design = _design(tmp_path, "none", store)
    proc = scythe(
        ["run", "disk_experiments:hog", "-d", str(design), "-s", str(store), "-q"], cli_env, tmp_path
    )
    assert _one_line(proc) == (
        f"error: cannot write {store}: no space left on device (free some space, then run again)"
    )
    assert [p.name for p in disk.path.iterdir()] == ["ballast"]  # no store folder, no probe file


@pytest.mark.parametrize("where", ["mount", "below"])
def test_item_11_read_only_store_is_one_line_before_anything_starts(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str], where: str
) -> None:
    """The store's root (the mount itself, or a folder to create on it) is probed before the
    design is even read: the line names the store, not a file a run would have written."""
    disk.remount("ro")
    store = disk.path if where == "mount" else disk.path / "runs"
    design = _design(tmp_path, "none", store)
    proc = scythe(["run", "disk_experiments:hog", "-d", str(design), "-s", str(store)], cli_env, tmp_path)
    assert _one_line(proc) == (
        f"error: cannot write {store}: read-only file system (mount it read-write, then run again)"
    )
    assert list(disk.path.iterdir()) == []


def test_item_11_read_only_store_mid_run_is_one_line_and_resume_completes_once_writable(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = disk.path / "store"
    proc, prefix = _run(_design(tmp_path, "readonly", disk.path), store, cli_env, tmp_path)
    shard = store / prefix / "scatter-gather" / "results" / "000002" / "scalars.pq"
    resume = f"scythe resume {prefix} --store {store}"
    assert _one_line(proc) == (
        f"error: cannot write {shard}: read-only file system (mount it read-write, then: {resume})"
    )
    still_read_only = scythe(["resume", prefix, "--store", str(store), "-q"], cli_env, tmp_path)
    assert _one_line(still_read_only) == (
        f"error: cannot write {store}: read-only file system (mount it read-write, then: {resume})"
    )
    assert _committed(store, prefix) == [0, 1]
    _no_partial_files(store)
    disk.remount("rw")
    resumed = scythe(["resume", prefix, "--store", str(store), "-q"], cli_env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete(store, prefix)


def test_item_10_a_spec_filling_the_disk_itself_fails_alone(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The spec's own write is the spec's failure (errors.pq, exit 3); the store was never refused."""
    store = disk.path / "store"
    design = _design(tmp_path, "own_write", disk.path / "own.bin", size=2 * SIZE)
    proc, prefix = _run(design, store, cli_env, tmp_path)
    assert proc.returncode == 3, proc.stderr
    errors = pd.read_parquet(store / prefix / "final" / "errors.pq").reset_index()
    assert errors["sort_index"].tolist() == [ACTING_SPEC]
    assert errors["error_type"].tolist() == ["OSError"]
    assert "No space left on device" in errors["message"][0]
    scalars = pd.read_parquet(store / prefix / "final" / "scalars.pq")
    assert len(scalars) == N_SPECS - 1


def test_item_10_a_returned_file_the_store_cannot_take_fails_the_run_not_the_spec(
    disk: Disk, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Uploading a spec's returned file is the store's write: refused, it stops the run (its batch
    uncommitted, so resume redoes it) rather than recording the spec as failed for good."""
    store = disk.path / "store"
    rows = [{"x": float(i), "size": 2 * SIZE if i == ACTING_SPEC else 10} for i in range(N_SPECS)]
    design = tmp_path / "design.csv"
    pd.DataFrame(rows).to_csv(design, index=False)
    proc, prefix = _run(design, store, cli_env, tmp_path, experiment="bulky")
    blob = store / prefix / "outputs" / f"{ACTING_SPEC:09d}" / "blob" / "blob.bin"
    line = _one_line(proc)
    assert line.startswith(f"error: cannot write {blob}: no space left on device (free some space, then: ")
    assert 2 not in _committed(store, prefix)  # batch 2 recorded nothing: no spec failed for good
    assert not list(store.rglob("errors.pq"))
    _no_partial_files(store)  # the half-copied blob was removed


def test_item_10_check_writable_leaves_no_trace(disk: Disk) -> None:
    """The probe creates neither the store's folder nor a file; on a full disk it names the store."""
    from scythe.errors import StoreWriteError

    store = LocalStore(disk.path / "new" / "store")
    store.check_writable()
    assert list(disk.path.iterdir()) == []
    from disk_experiments import fill

    fill(disk.path / "ballast")
    with pytest.raises(StoreWriteError) as caught:
        store.check_writable()
    assert str(caught.value) == (
        f"cannot write {store.root}: no space left on device (free some space, then run again)"
    )
    assert [p.name for p in disk.path.iterdir()] == ["ballast"]


def test_item_10_a_full_temp_folder_during_allocation_is_one_line(
    disk: Disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The design is staged in a local temp folder before the store is touched: that disk being
    full is named the same way (and the store stays untouched)."""
    import tempfile

    from disk_experiments import fill, hog

    import scythe
    from scythe.errors import StoreWriteError

    fill(disk.path / "ballast")
    monkeypatch.setattr(tempfile, "tempdir", str(disk.path))  # as TMPDIR would, unchecked
    store = tmp_path / "store"
    with pytest.raises(StoreWriteError) as caught:
        scythe.allocate(hog, [{"x": 1.0}], store=str(store), progress=False)
    message = str(caught.value)
    assert message.startswith(f"cannot write {disk.path}/scythe-allocation-")
    assert message.endswith(": no space left on device (free some space, then run again)")
    assert not store.exists()
    assert [p.name for p in disk.path.iterdir()] == ["ballast"]
