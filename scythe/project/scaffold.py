"""`scythe new` and `scythe update`: experiment projects rendered from, and kept in step with, the template.

Each experiment is its own versioned project so that a result can be traced to the exact code that
made it. The template is a copier template, so an old project can take in template improvements
later (`copier update`: a 3-way merge that keeps the project's own edits) instead of being
re-scaffolded by hand. Spec modules are not template files: `scythe specs` generates them from the
project's schemas right after rendering.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from scythe import extras
from scythe._git import git
from scythe.errors import ScytheError
from scythe.project import codegen, names, templates

ANSWERS_FILE = ".copier-answers.yml"
CONFLICT_MARKER = "<<<<<<< before updating"
Conflict = Literal["inline", "rej"]


@dataclass(frozen=True)
class NewProject:
    """A freshly rendered project."""

    path: Path
    specs: Path
    git_initialised: bool


def new(
    destination: Path,
    *,
    data: Mapping[str, str] | None = None,
    defaults: bool = False,
    template: str | None = None,
    vcs_ref: str | None = None,
) -> NewProject:
    """Render the template into `destination` (which must not hold anything yet), then its specs.

    The project is named after the destination folder unless `data` names it. Everything a user can
    get wrong (names, unknown answers, the template itself) is refused before a file is written.
    """
    extras.require("project", "scythe new")
    import copier
    import jinja2

    destination = destination.absolute()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ScytheError(f"{destination} already exists and is not empty: choose a new folder")
    answers = {"project_name": destination.name, **(data or {})}
    source = templates.resolve(template, vcs_ref)
    _check_questions(answers, source)
    # The package name is known now unless copier is to ask for it (then it is checked once answered).
    package = answers.get("package_name") or (
        answers["project_name"].replace("-", "_") if defaults else None  # the template's default
    )
    names.check(answers["project_name"], package, source.files)
    recorded = _portable_source(source.url, destination)  # before the chdir: it may be relative
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.chdir(destination):
            copier.run_copy(recorded, ".", data=answers, defaults=defaults, vcs_ref=source.ref, quiet=True)
        if package is None:
            names.check(None, str(_recorded_answers(destination).get("package_name", "")), source.files)
    except (copier.errors.CopierError, ValueError, jinja2.TemplateError) as exc:
        shutil.rmtree(destination, ignore_errors=True)
        raise ScytheError(f"cannot render the template {source.url}: {exc}") from None
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    specs = codegen.layout(destination)
    codegen.write(specs)
    return NewProject(path=destination, specs=specs.module, git_initialised=_git_init(destination))


def _check_questions(answers: Mapping[str, str], source: templates.Source) -> None:
    """`--data` keys the template does not ask are refused: copier would silently ignore them."""
    asked = templates.questions(source)
    unknown = sorted(set(answers) - asked) if asked is not None else []
    if unknown:
        raise ScytheError(
            f"the template asks no {', '.join(unknown)}: it asks {', '.join(sorted(asked or ()))} "
            "(scythe new --help describes each)"
        )


def _recorded_answers(project: Path) -> dict[str, object]:
    try:
        answers = yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return answers if isinstance(answers, dict) else {}


def _portable_source(source: str, destination: Path) -> str:
    """A local template inside the same git repository as the project is recorded relatively.

    That is the case of examples kept beside the template: their answers file then holds a path
    that works in every clone, not one machine's absolute path.
    """
    path = Path(source)
    if source.startswith("~") or not path.is_dir():
        return source
    path = path.resolve()
    top = _git_toplevel(_existing_parent(destination))
    if top is not None and path.is_relative_to(top) and _git_toplevel(path) == top:
        return os.path.relpath(path, destination)
    return str(path)


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _git_toplevel(where: Path) -> Path | None:
    top = git(where, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def _git_init(project: Path) -> bool:
    """Make the project its own repository, unless it already lives inside one (or git is missing)."""
    if shutil.which("git") is None or _git_toplevel(project) is not None:
        return False
    return git(project, "init", "--quiet", str(project)) is not None


@dataclass(frozen=True)
class UpdateResult:
    """What `scythe update` did: template versions before and after, and what needs a human."""

    project: Path
    old_version: str
    new_version: str
    conflicts: list[str] = field(default_factory=list)
    specs_stale: bool = False

    @property
    def changed(self) -> bool:
        return self.old_version != self.new_version


def read_answers(project: Path) -> dict[str, object]:
    """The project's `.copier-answers.yml` (template source, version and answers)."""
    path = project / ANSWERS_FILE
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise ScytheError(f"{project} has no {ANSWERS_FILE}: it was not rendered by `scythe new`") from None
    except yaml.YAMLError as exc:
        raise ScytheError(f"{path} is not valid YAML ({exc}); restore it from git") from None
    if not isinstance(answers, dict) or not answers.get("_src_path"):
        raise ScytheError(f"{path} does not name its template (_src_path): cannot update")
    return answers


def update(
    project: Path,
    *,
    vcs_ref: str | None = None,
    conflict: Conflict = "inline",
    defaults: bool = True,
) -> UpdateResult:
    """Merge a newer template version into `project` (default: the template's latest tag; for
    the bundled template, this Scythe's).

    The project must be a clean git work tree, so the update is one reviewable diff. Files the
    merge could not reconcile are listed in the result, with conflict markers or `.rej` files.
    """
    extras.require("project", "scythe update")
    import copier

    before = read_answers(project)
    old = before.get("_commit")
    if not old:
        raise ScytheError(
            f"{project.name} was rendered from an unversioned template ({before['_src_path']}); "
            "updates need a git-tagged template: render with `scythe new --template <git repo>` "
            f"(or ${templates.TEMPLATE_ENV})"
        )
    if templates.is_repository(str(before["_src_path"])):
        vcs_ref = vcs_ref or _bundled_ref(str(old))
    try:
        with contextlib.chdir(project):
            copier.run_update(
                ".",
                vcs_ref=vcs_ref,
                defaults=defaults,
                overwrite=True,
                conflict=conflict,
                quiet=True,
                skip_answered=True,
            )
    except (copier.errors.CopierError, ValueError) as exc:
        raise ScytheError(f"cannot update {project.name}: {exc}") from None
    after = read_answers(project)
    return UpdateResult(
        project=project,
        old_version=str(old),
        new_version=str(after.get("_commit", old)),
        conflicts=sorted(_conflicts(project)),
        specs_stale=_specs_stale(project),
    )


def _bundled_ref(old: str) -> str:
    """This Scythe's tag of the bundled template, after checking the project's own is still there."""
    from scythe.run.versions import scythe_version

    version = scythe_version()
    repo = templates.ensure_version(templates.bundled_template(), version)
    if not templates.has_version(repo, old):
        raise ScytheError(
            f"the template {old} this project was rendered from is not in {repo} (it was made on "
            f"another machine): render any project with that Scythe here once, e.g. `uvx --from "
            f"'scythe-sweep=={old.lstrip('v')}' scythe new /tmp/scratch --defaults`, then update again"
        )
    return f"v{version}"


def _specs_stale(project: Path) -> bool:
    """Whether `scythe specs` would change the spec module (a broken schema counts as stale)."""
    try:
        return not codegen.compare(codegen.layout(project)).current
    except ScytheError:
        return True


def _conflicts(project: Path) -> Iterator[str]:
    """Files the merge left for a human: `.rej` leftovers and changed files holding conflict markers."""
    changed = _git_lines(project, "diff", "--name-only", "--relative", "HEAD")
    untracked = _git_lines(project, "ls-files", "--others", "--exclude-standard")
    for name in sorted(set(changed) | set(untracked)):
        if name.endswith(".rej") or _has_marker(project / name):
            yield name


def _git_lines(project: Path, *args: str) -> list[str]:
    """Paths printed by a git command run in `project` (relative to it)."""
    return [line for line in (git(project, *args) or "").splitlines() if line]


def _has_marker(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="ignore") as fh:
            return any(line.startswith(CONFLICT_MARKER) for line in fh)
    except OSError:
        return False
