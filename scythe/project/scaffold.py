"""`scythe new` and `scythe update`: experiment projects rendered from, and kept in step with, the template.

Each experiment is its own versioned project so that a result can be traced to the exact code that
made it. The template is a copier template, so an old project can take in template improvements
later (`copier update`: a 3-way merge that keeps the project's own edits) instead of being
re-scaffolded by hand. Spec modules are not template files: `scythe specs` generates them from the
project's schemas right after rendering.
"""

from __future__ import annotations

import contextlib
import functools
import keyword
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from scythe._git import git
from scythe.errors import ScytheError
from scythe.project import codegen

ANSWERS_FILE = ".copier-answers.yml"
TEMPLATE_ENV = "SCYTHE_TEMPLATE"
CONFLICT_MARKER = "<<<<<<< before updating"
Conflict = Literal["inline", "rej"]
# Modules a project may still target (python_version 3.11) after newer interpreters dropped them.
_STDLIB_REMOVED = frozenset(
    {"asynchat", "asyncore", "distutils", "imp", "smtpd"}  # gone in 3.12
    | {"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap", "msilib"}
    | {"nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"}
)


def bundled_template() -> Path:
    """The template shipped with scythe: inside the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parent.parent  # scythe/
    for candidate in (package / "template", package.parent / "template"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise ScytheError(f"the project template is missing from this scythe installation ({package})")


def template_source(explicit: str | None = None) -> str:
    """`--template`, else $SCYTHE_TEMPLATE, else the bundled template."""
    return explicit or os.environ.get(TEMPLATE_ENV) or str(bundled_template())


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

    The project is named after the destination folder unless `data` names it.
    """
    import copier

    destination = destination.absolute()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ScytheError(f"{destination} already exists and is not empty: choose a new folder")
    answers = {"project_name": destination.name, **(data or {})}
    source = template_source(template)
    project_template = _project_template(source)
    # The package name is known now unless copier is to ask for it (then it is checked once answered).
    package = answers.get("package_name") or (
        answers["project_name"].replace("-", "_") if defaults else None  # the template's default
    )
    _check_names(answers["project_name"], package, project_template)
    recorded = _portable_source(source, destination)  # before the chdir: `source` may be relative
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.chdir(destination):
            copier.run_copy(
                recorded,
                ".",
                data=answers,
                defaults=defaults,
                vcs_ref=vcs_ref,
                quiet=True,
            )
        if package is None:
            _check_names(None, str(_recorded_answers(destination).get("package_name", "")), project_template)
    except (copier.errors.CopierError, ValueError) as exc:
        shutil.rmtree(destination, ignore_errors=True)
        raise ScytheError(f"cannot render the template {source}: {exc}") from None
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    specs = codegen.layout(destination)
    codegen.write(specs)
    return NewProject(path=destination, specs=specs.module, git_initialised=_git_init(destination))


def _check_names(project: str | None, package: str | None, project_template: Path | None) -> None:
    """One line with every reason the names would break the project (nothing is written yet)."""
    problems = [
        package_name_problem(package, project_template) if package else None,
        project_name_problem(project, project_template) if project else None,
    ]
    found = [p for p in problems if p]
    if found:
        raise ScytheError("; ".join(found))


def package_name_problem(name: str, project_template: Path | None = None) -> str | None:
    """Why `name` cannot be the project's package, or None. copier.yml's validator says the same.

    A package named like a keyword cannot be imported; one named like a standard-library module,
    a package the project depends on or one of its own scripts shadows it (`scythe new pandas`
    would import itself where it means pandas). Soft keywords (`match`, `type`) are fine.
    """
    hint = "choose another (--data package_name=...)"
    if keyword.iskeyword(name):
        return f"package name {name!r} is a Python keyword, so `import {name}` cannot work: {hint}"
    if name in sys.stdlib_module_names or name in _STDLIB_REMOVED:
        return f"package name {name!r} would shadow the standard-library module {name}: {hint}"
    if name in shadowed_imports(project_template):
        return f"package name {name!r} would shadow the {name} package the project depends on: {hint}"
    if name in _script_modules(project_template or _project_template(None)):
        return f"package name {name!r} would shadow the project's own scripts/{name}.py: {hint}"
    return None


def project_name_problem(name: str, project_template: Path | None = None) -> str | None:
    """Why `name` cannot be the project's distribution name, or None: a project named like one of
    its own dependencies (`scythe new scythe`) cannot be installed next to it."""
    if _normalized(name) in _dependencies(project_template or _project_template(None))[0]:
        return (
            f"project name {name!r} is the name of a distribution the project depends on: "
            "name the folder differently (or --data project_name=...)"
        )
    return None


def shadowed_imports(project_template: Path | None = None) -> frozenset[str]:
    """Top-level import names of everything a generated project depends on (scythe included)."""
    return _dependencies(project_template or _project_template(None))[1]


def _normalized(distribution: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _project_template(source: str | None) -> Path:
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


@functools.cache
def _script_modules(project_template: Path) -> frozenset[str]:
    """Modules of the project's scripts/ (on its test path: `from allocate import build_design`)."""
    scripts = project_template / "scripts"
    names = [p.name for p in scripts.iterdir()] if scripts.is_dir() else []
    return frozenset(n.split(".", 1)[0] for n in names if n.endswith((".py", ".py.jinja")))


def _template_requirements(project_template: Path) -> list[str]:
    """The requirement strings of the template's pyproject: [project] dependencies and every
    [dependency-groups] group (the dev tools the project's tests and CI import)."""
    path = next(
        (
            p
            for p in (project_template / "pyproject.toml.jinja", project_template / "pyproject.toml")
            if p.is_file()
        ),
        None,
    )
    if path is None:
        return ["scythe"]
    section, collecting, found = "", False, []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not collecting:
            section = stripped.strip("[]").strip()
            continue
        starts = re.match(r"^([A-Za-z0-9_.-]+)\s*=\s*\[", stripped)
        if starts and (
            (section == "project" and starts.group(1) == "dependencies") or section == "dependency-groups"
        ):
            collecting = True
        if collecting:
            found += re.findall(r'"([^"{}]+)"', stripped)
            collecting = "]" not in stripped
    return found or ["scythe"]


@functools.cache
def _dependencies(project_template: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(distribution names, top-level import names) of everything the project depends on.

    The template's requirements, then their own requirements as installed here (scythe's
    environment is what a project installs), and the import names those distributions provide.
    """
    import importlib.metadata as metadata

    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement

    def parse(text: str) -> Requirement | None:
        try:
            return Requirement(text)
        except InvalidRequirement:
            return None

    todo = [r for r in map(parse, _template_requirements(project_template)) if r is not None]
    todo.append(Requirement("scythe"))
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = _normalized(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        extras = {"", *requirement.extras}
        for text in requires:
            needed = parse(text)
            if needed is None:
                continue
            try:
                wanted = needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras)
            except UndefinedEnvironmentName:
                wanted = False
            if wanted:
                todo.append(needed)
    imports = {name.replace("-", "_") for name in seen}
    for module, distributions in metadata.packages_distributions().items():
        if any(_normalized(d) in seen for d in distributions):
            imports.add(module)
    return frozenset(seen), frozenset(i for i in imports if i.isidentifier())


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
    path = Path(source).expanduser()
    if not path.is_dir():
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
    """Merge a newer template version into `project` (default: the template's latest tag).

    The project must be a clean git work tree, so the update is one reviewable diff. Files the
    merge could not reconcile are listed in the result, with conflict markers or `.rej` files.
    """
    import copier

    before = read_answers(project)
    old = before.get("_commit")
    if not old:
        raise ScytheError(
            f"{project.name} was rendered from an unversioned template ({before['_src_path']}); "
            "updates need a git-tagged template: render with `scythe new --template <git repo>` "
            f"(or ${TEMPLATE_ENV})"
        )
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
