"""`scythe build`: the experiment's worker image, tagged so that every result traces back to it.

Runs are stored under the project's version (`v<version>`, in every manifest); the image carries
the same tag, plus the git commit, and `SCYTHE_IMAGE` records it in the manifest. The image is
built with whichever builder the machine has (docker, podman or buildah: one command line), and
`--dry-run` shows that command, so nothing here depends on a container engine to be tested.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from scythe._git import git
from scythe.errors import ScytheError
from scythe.run.versions import format_version, parse_version, read_pyproject

BUILDERS = ("docker", "podman", "buildah")
DOCKERFILE = "Dockerfile"
SHA_LENGTH = 12


@dataclass(frozen=True)
class Project:
    """What the image is named and versioned after, from pyproject.toml."""

    root: Path
    name: str
    version: str
    scythe_path: str | None = None


@dataclass(frozen=True)
class BuildPlan:
    """The tags and the exact commands of one build (and push)."""

    builder: str | None
    tags: list[str]
    build: list[str]
    push: list[list[str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def image(self) -> str:
        """The reference to record as SCYTHE_IMAGE: the version tag."""
        return self.tags[0]

    @property
    def commands(self) -> list[list[str]]:
        return [self.build, *self.push]


def read_project(root: Path) -> Project:
    config = read_pyproject(root)
    project = config.get("project", {})
    if not isinstance(project.get("name"), str) or not isinstance(project.get("version"), str):
        raise ScytheError(
            f"{root / 'pyproject.toml'}: [project] needs a name and a static version to tag the image"
        )
    source = config.get("tool", {}).get("uv", {}).get("sources", {}).get("scythe", {})
    path = source.get("path") if isinstance(source, dict) else None
    return Project(root=root, name=project["name"], version=project["version"], scythe_path=path)


def git_revision(root: Path) -> tuple[str | None, bool]:
    """The short commit of `root` and whether the work tree has uncommitted changes."""
    head = git(root, "rev-parse", f"--short={SHA_LENGTH}", "HEAD")
    if head is None:
        return None, False
    return head, bool(git(root, "status", "--porcelain", "--untracked-files=no", "--", "."))


def find_builder(preferred: str | None = None) -> str | None:
    """`preferred` if given (it must be on PATH), else the first of docker, podman, buildah found."""
    if preferred is not None:
        if preferred not in BUILDERS:
            raise ScytheError(f"--builder must be one of {', '.join(BUILDERS)}, not {preferred!r}")
        if shutil.which(preferred) is None:
            raise ScytheError(f"{preferred} is not on PATH")
        return preferred
    return next((b for b in BUILDERS if shutil.which(b)), None)


def plan(
    root: Path,
    *,
    image: str | None = None,
    extra_tags: list[str] | None = None,
    push: bool = False,
    builder: str | None = None,
) -> BuildPlan:
    """Tags `<image>:v<version>` and `<image>:<git sha>` (+ extras), and the commands to make them."""
    project = read_project(root)
    repository = image or project.name
    version = format_version(parse_version(project.version))
    sha, dirty = git_revision(root)
    blockers, notes = _blockers(project), _notes(project, sha, dirty)
    labels = {"org.opencontainers.image.version": version}
    tags = [f"{repository}:{version}"]
    if sha:
        tags.append(f"{repository}:{sha}-dirty" if dirty else f"{repository}:{sha}")
        labels["org.opencontainers.image.revision"] = sha
    tags += [f"{repository}:{t}" for t in extra_tags or [] if f"{repository}:{t}" not in tags]
    chosen = find_builder(builder)
    program = chosen or "docker"
    command = [program, "build", "--file", DOCKERFILE, "--build-arg", f"SCYTHE_IMAGE={tags[0]}"]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    for tag in tags:
        command += ["--tag", tag]
    command.append(".")
    pushes = [[program, "push", tag] for tag in tags] if push else []
    return BuildPlan(builder=chosen, tags=tags, build=command, push=pushes, blockers=blockers, notes=notes)


def _blockers(project: Project) -> list[str]:
    """What would make the build fail, said before it starts rather than deep in its log."""
    blockers = []
    if not (project.root / DOCKERFILE).is_file():
        blockers.append(f"no {DOCKERFILE} in {project.root}")
    if not (project.root / "uv.lock").is_file():
        blockers.append("no uv.lock: run `uv lock` and commit it (the image installs the locked versions)")
    if project.scythe_path and not (project.root / project.scythe_path).resolve().is_relative_to(
        project.root.resolve()
    ):
        blockers.append(
            f"scythe comes from the local path {project.scythe_path}, outside the build context: "
            "the image cannot install it (use a package index or a git URL in [tool.uv.sources])"
        )
    return blockers


def _notes(project: Project, sha: str | None, dirty: bool) -> list[str]:
    """What makes the image less traceable."""
    notes = []
    if sha is None:
        notes.append("not a git commit: the image gets no <git sha> tag")
    elif dirty:
        notes.append(f"uncommitted changes: tagged {sha}-dirty; commit before a build you will run")
    return notes


def show(command: list[str]) -> str:
    """A command as one shell line."""
    import shlex

    return shlex.join(command)


def execute(build: BuildPlan, root: Path) -> None:
    """Run the build (and pushes); a missing builder or a failed step is a one-line error."""
    if build.blockers:
        raise ScytheError("cannot build the image: " + "; ".join(build.blockers))
    if build.builder is None:
        raise ScytheError(
            "no container builder found (docker, podman or buildah); install one, or elsewhere run:\n  "
            + "\n  ".join(show(c) for c in build.commands)
        )
    for command in build.commands:
        try:
            done = subprocess.run(command, cwd=root, check=False)
        except OSError as exc:
            raise ScytheError(f"cannot run {command[0]}: {exc}") from exc
        if done.returncode != 0:
            raise ScytheError(f"`{show(command)}` failed (exit {done.returncode})")
