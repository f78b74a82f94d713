"""Files that travel with specs: uploaded once at allocation, fetched once per worker machine.

Uploads are content-addressed (`artifacts/<sha256>/<name>`), so a weather file shared by 10^5
specs is stored and downloaded once. Worker caches are keyed by URI and filled by rename, so two
tasks racing for the same file never read a half download.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import AnyUrl, BaseModel

from scythe.context import task_settings
from scythe.errors import ScytheError
from scythe.run.layout import ARTIFACTS, RunRef
from scythe.settings import ScytheSettings, get_settings
from scythe.store import S3Store, Store, atomic_write


class UploadedArtifact(BaseModel):
    """One line of `input_artifacts.yml`."""

    source: str
    sha256: str
    uri: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload_local_files(paths: Iterable[Path], store: Store, run: RunRef) -> dict[Path, UploadedArtifact]:
    """Upload each distinct local file once; returns where each one went."""
    uploaded: dict[Path, UploadedArtifact] = {}
    by_digest: dict[str, str] = {}
    for path in sorted(set(paths)):
        digest = sha256_of(path)
        if digest not in by_digest:
            key = run.key(f"{ARTIFACTS}/{digest}/{path.name}")
            if not store.exists(key):
                store.put_file(key, path)
            by_digest[digest] = store.uri_for(key)
        uploaded[path] = UploadedArtifact(source=str(path), sha256=digest, uri=by_digest[digest])
    return uploaded


def fetch(
    reference: AnyUrl | Path | str, cache_dir: Path | None = None, settings: ScytheSettings | None = None
) -> Path:
    """A local path for `reference`, downloading into the cache on first use.

    Settings: those given, else the running task's, else (outside a task) the environment's.
    """
    text = str(reference)
    if "://" not in text:
        path = Path(text)
        if not path.is_file():
            raise ScytheError(f"input file not found: {path}")
        return path
    url = urlparse(text)
    if url.scheme == "file":
        return fetch(Path(unquote(url.path)), settings=settings)
    settings = settings or task_settings() or get_settings()
    cache = (cache_dir or settings.cache_dir) / hashlib.sha256(text.encode()).hexdigest()[:32]
    target = cache / (Path(unquote(url.path)).name or "file")
    if target.is_file():
        return target
    if url.scheme == "s3":
        s3 = S3Store(url.netloc, endpoint_url=settings.s3_endpoint_url)
        s3.get_file(url.path.lstrip("/"), target)
    elif url.scheme in ("http", "https"):

        def download(tmp: Path) -> None:
            with urllib.request.urlopen(text, timeout=60) as response, tmp.open("wb") as out:
                shutil.copyfileobj(response, out)

        atomic_write(target, download)
    else:
        raise ScytheError(f"cannot fetch {text!r}: use a local path, s3://, http(s):// or file://")
    return target
