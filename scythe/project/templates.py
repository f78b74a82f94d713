"""Where a project's template comes from: the one bundled with Scythe, a folder or a git repository.

copier can only update a project from a versioned template (git tags). The bundled template is a
plain folder inside the wheel, so Scythe serves it from a git repository of its own, one commit per
Scythe version tagged `v<version>` (`~/.cache/scythe/template`, or $SCYTHE_TEMPLATE_REPO): every
Scythe that renders or updates a project adds its template there, so a project made by 0.1.0 and
updated by 0.2.0 on the same machine merges the 0.1.0 → 0.2.0 template diff, offline.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from scythe.errors import ScytheError

TEMPLATE_ENV = "SCYTHE_TEMPLATE"
REPO_ENV = "SCYTHE_TEMPLATE_REPO"
# copier's ways of naming a template that is not a local folder.
_REMOTE_PREFIXES = ("gh:", "gl:", "git@", "git+", "https://", "http://", "ssh://", "file://")


@dataclass(frozen=True)
class Source:
    """What copier renders from: `url` (recorded in the answers), `ref` (None: the latest tag) and
    the local folder of its project files, for the name checks made before rendering."""

    url: str
    ref: str | None
    files: Path


def bundled_template() -> Path:
    """The template shipped with scythe: inside the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parent.parent  # scythe/
    for candidate in (package / "template", package.parent / "template"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise ScytheError(f"the project template is missing from this scythe installation ({package})")


def resolve(explicit: str | None = None, ref: str | None = None) -> Source:
    """`--template`, else $SCYTHE_TEMPLATE, else the bundled template served at this Scythe's tag.

    A local folder must be a copier template (a `copier.yml`), or a Scythe checkout, whose
    `template/` is used; anything else is one line saying what `--template` takes.
    """
    given = explicit or os.environ.get(TEMPLATE_ENV)
    if not given:
        from scythe.run.versions import scythe_version

        repo = ensure_version(bundled_template(), scythe_version())
        return Source(url=_recorded(repo), ref=ref or f"v{scythe_version()}", files=project_files(None))
    if given.startswith(_REMOTE_PREFIXES) or given.endswith(".bundle"):
        return Source(url=given, ref=ref, files=project_files(None))
    path = Path(given).expanduser()
    if not path.exists():
        raise ScytheError(
            f"--template {given}: no such folder (a template folder, git URL or Scythe checkout)"
        )
    if _has_config(path):
        return Source(url=given, ref=ref, files=project_files(given))
    if _has_config(path / "template"):  # a Scythe checkout
        return Source(url=str(path / "template"), ref=ref, files=project_files(str(path / "template")))
    raise ScytheError(
        f"--template {given} is not a copier template: it has no copier.yml (give a template folder, "
        "a git URL such as gh:org/repo, or a Scythe checkout, whose template/ is used)"
    )


def questions(source: Source) -> frozenset[str] | None:
    """The questions of a local template's copier.yml (None when it cannot be read here)."""
    root = next((p for p in (source.files, *source.files.parents) if _has_config(p)), None)
    if root is None or (source.url.startswith(_REMOTE_PREFIXES) and not source.url.startswith("file://")):
        return None
    config = next(root / n for n in ("copier.yml", "copier.yaml") if (root / n).is_file())
    try:
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(settings, dict):
        return None
    return frozenset(k for k, v in settings.items() if not str(k).startswith("_") and not _computed(v))


def _computed(question: object) -> bool:
    """A `when: false` entry is a computed value, not a question a user answers."""
    return isinstance(question, dict) and question.get("when") is False


def _has_config(folder: Path) -> bool:
    return folder.is_dir() and any((folder / n).is_file() for n in ("copier.yml", "copier.yaml"))


def project_files(source: str | None) -> Path:
    """The folder of the template's project files (copier's `_subdirectory`); the bundled template's
    when `source` is not a local template (a git URL: its files are not here yet)."""
    candidates = [Path(source).expanduser()] if source else []
    for root in (*candidates, bundled_template()):
        config = root / "copier.yml"
        if config.is_file():
            try:
                settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                settings = {}
            subdirectory = settings.get("_subdirectory", "") if isinstance(settings, dict) else ""
            return root / str(subdirectory or "")
    return bundled_template() / "project"


def repository() -> Path:
    """The git repository Scythe serves its bundled template from (one tag per Scythe version)."""
    explicit = os.environ.get(REPO_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "scythe" / "template"


def ensure_version(folder: Path, version: str, repo: Path | None = None) -> Path:
    """Make tag `v<version>` of `repo` hold exactly `folder`'s files, committing them if needed.

    Idempotent and safe between processes (a lock file beside the repository). A template whose
    files changed without a version bump (a development checkout) moves its tag: copier then
    diffs against what that version holds now.
    """
    repo = repo or repository()
    tag = f"v{version}"
    try:
        repo.parent.mkdir(parents=True, exist_ok=True)
        with _locked(repo.parent / f".{repo.name}.lock"):
            if not (repo / ".git").is_dir():
                _git(repo.parent, "init", "--quiet", "--initial-branch", "main", str(repo))
            tree = _tree_of(repo, folder)
            if _rev(repo, f"{tag}^{{tree}}") == tree:
                return repo
            head = _rev(repo, "HEAD")
            commit = _git(
                repo, "commit-tree", tree, *(["-p", head] if head else []), "-m", f"Scythe {version} template"
            )
            _git(repo, "update-ref", "refs/heads/main", commit)
            _git(repo, "tag", "--force", tag, commit)
            _git(repo, "reset", "--quiet", "--hard", "main")  # copier clones a clean work tree
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else exc.strerror
        raise ScytheError(f"cannot keep the template repository {repo}: {detail}") from None
    return repo


def has_version(repo: Path, tag: str) -> bool:
    return _rev(repo, f"refs/tags/{tag}") is not None


def is_repository(url: str) -> bool:
    """Whether a recorded `_src_path` is Scythe's own template repository (this machine's)."""
    return Path(url).expanduser().absolute() == repository()


def _recorded(repo: Path) -> str:
    """`~/…` when under the home folder: the answers file then works for a teammate too."""
    home = Path.home()
    return f"~/{repo.relative_to(home).as_posix()}" if repo.is_relative_to(home) else str(repo)


def _tree_of(repo: Path, folder: Path) -> str:
    """The git tree of `folder`'s files (as `git add --all` sees them), written into `repo`."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        work = ["--work-tree", str(folder)]
        _git(repo, *work, "add", "--all", ".", env=env)
        return _git(repo, *work, "write-tree", env=env)


def _git(where: Path, *args: str, env: dict[str, str] | None = None) -> str:
    identity = ["-c", "user.name=Scythe", "-c", "user.email=scythe@localhost", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=where, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    return done.stdout.strip()


def _rev(repo: Path, name: str) -> str | None:
    """The object `name` names in `repo`, or None."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", name)
    except subprocess.CalledProcessError:
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
