from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scythe.errors import ScytheError
from scythe.run.layout import is_run_id, new_run_id
from scythe.run.versions import resolve_version


@pytest.mark.parametrize(
    ("requested", "existing", "expected"),
    [
        ("bumpminor", [], "v1.0.0"),
        ("keep", [], "v1.0.0"),
        ("bumpmajor", ["v1.2.3", "v1.10.0"], "v2.0.0"),
        ("bumpminor", ["v1.2.3", "v1.10.0"], "v1.11.0"),
        ("bumppatch", ["v1.2.3", "v1.10.0"], "v1.10.1"),
        ("keep", ["v1.2.3", "v1.10.0", "notes"], "v1.10.0"),
        ("2.3.4", ["v9.0.0"], "v2.3.4"),
        ("v0.1.0", [], "v0.1.0"),
    ],
)
def test_resolve_version(requested: str, existing: list[str], expected: str) -> None:
    assert resolve_version(requested, existing) == expected


def test_bad_version_is_explained() -> None:
    with pytest.raises(ScytheError, match="not a version"):
        resolve_version("latest", [])


def test_run_ids_are_upstream_format_and_unique() -> None:
    now = datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC)
    first = new_run_id([], now)
    assert first == "2026-11-26_01-02-03"
    assert is_run_id(first)
    assert new_run_id([first], now) == "2026-11-26_01-02-04"
