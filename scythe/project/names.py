"""Names a rendered project must not take: keywords, the standard library, its own dependencies.

`scythe new class` cannot be imported, `scythe new pandas` imports itself where it means pandas and
`scythe new scythe-sweep` cannot be installed beside Scythe. copier.yml's validators say the same
for copier's own prompts; these checks also know every installed dependency of a project.
"""

from __future__ import annotations

import functools
import keyword
import re
import sys
from pathlib import Path

from scythe.errors import ScytheError
from scythe.project.templates import project_files

# Modules a project may still target (python_version 3.11) after newer interpreters dropped them.
_STDLIB_REMOVED = frozenset(
    {"asynchat", "asyncore", "distutils", "imp", "smtpd"}  # gone in 3.12
    | {"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "lib2to3", "mailcap", "msilib"}
    | {"nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"}
)


def check(project: str | None, package: str | None, project_template: Path | None) -> None:
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
    if name in _script_modules(project_template or project_files(None)):
        return f"package name {name!r} would shadow the project's own scripts/{name}.py: {hint}"
    return None


def project_name_problem(name: str, project_template: Path | None = None) -> str | None:
    """Why `name` cannot be the project's distribution name, or None: a project named like one of
    its own dependencies (`scythe new scythe`) cannot be installed next to it."""
    if _normalized(name) in _dependencies(project_template or project_files(None))[0]:
        return (
            f"project name {name!r} is the name of a distribution the project depends on: "
            "name the folder differently (or --data project_name=...)"
        )
    return None


def shadowed_imports(project_template: Path | None = None) -> frozenset[str]:
    """Top-level import names of everything a generated project depends on (scythe included)."""
    return _dependencies(project_template or project_files(None))[1]


def _normalized(distribution: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


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
        return ["scythe-sweep"]
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
    return found or ["scythe-sweep"]


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
    todo.append(Requirement("scythe-sweep"))
    walked: dict[str, set[str]] = {}  # distribution -> the extras already followed
    while todo:
        requirement = todo.pop()
        name = _normalized(requirement.name)
        extras = {"", *requirement.extras} - walked.get(name, set())
        if not extras:
            continue
        walked.setdefault(name, set()).update(extras)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
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
    # Scythe's import package (an editable install lists no top-level modules) and the unrelated
    # `scythe` on the package index, whose name would only confuse.
    seen = {*walked, "scythe"}
    imports = {name.replace("-", "_") for name in seen}
    for module, distributions in metadata.packages_distributions().items():
        if any(_normalized(d) in seen for d in distributions):
            imports.add(module)
    return frozenset(seen), frozenset(i for i in imports if i.isidentifier())
