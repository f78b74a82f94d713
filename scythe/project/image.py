"""`scythe build`: the experiment's worker image, tagged so that every result traces back to it.

Runs are stored under the project's version (`v<version>`, in every manifest); the image carries
the same tag, plus the git commit, and `SCYTHE_IMAGE` records it in the manifest. The image is
built with whichever builder the machine can use (one command line each):

- docker, through BuildKit (`docker buildx build --load`): the generated Dockerfile's build stage
  uses `RUN --mount`, which docker's legacy builder rejects, so docker needs its daemon and the
  buildx plugin;
- podman or buildah (`build`), which need no daemon: buildah is the one that works inside a
  container without one (`BUILDAH_ISOLATION=chroot`, `CONTAINERS_STORAGE_CONF` for vfs storage).

Without `--builder`, docker is taken when it is usable, else podman, else buildah. `--dry-run`
shows the commands and `--json` the whole plan (for CI), so nothing here needs a container engine
to be tested.
"""

from __future__ import annotations

import json
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
PROBE_TIMEOUT = 15  # seconds for `docker version` / `docker buildx version`


@dataclass(frozen=True)
class Project:
    """What the image is named and versioned after, from pyproject.toml."""

    root: Path
    name: str
    version: str
    # What uv reads from the disk: (where it is declared, the path), e.g. path sources, find-links.
    local_paths: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BuildPlan:
    """The tags and the exact commands of one build (and push)."""

    builder: str | None
    tags: list[str]
    build: list[str]
    push: list[list[str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    build_args: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        """The reference to record as SCYTHE_IMAGE: the version tag."""
        return self.tags[0]

    @property
    def commands(self) -> list[list[str]]:
        return [self.build, *self.push]

    def to_json(self) -> str:
        """The plan for CI (e.g. docker/build-push-action's tags, labels and build-args)."""
        return json.dumps(
            {
                "builder": self.builder,
                "image": self.image,
                "tags": self.tags,
                "labels": self.labels,
                "build_args": self.build_args,
                "commands": [show(c) for c in self.commands],
                "blockers": self.blockers,
                "notes": self.notes,
            },
            indent=2,
        )


def read_project(root: Path) -> Project:
    config = read_pyproject(root)
    project = config.get("project", {})
    if not isinstance(project.get("name"), str) or not isinstance(project.get("version"), str):
        raise ScytheError(
            f"{root / 'pyproject.toml'}: [project] needs a name and a static version to tag the image"
        )
    uv = config.get("tool", {}).get("uv", {})
    local: list[tuple[str, str]] = []
    for name, sources in (uv.get("sources") or {}).items():
        for source in sources if isinstance(sources, list) else [sources]:
            if isinstance(source, dict) and isinstance(source.get("path"), str):
                local.append((f"[tool.uv.sources] {name}", source["path"]))
    links = uv.get("find-links") or []
    for link in links if isinstance(links, list) else [links]:
        if isinstance(link, str) and "://" not in link:
            local.append(("[tool.uv] find-links", link))
    return Project(root=root, name=project["name"], version=project["version"], local_paths=tuple(local))


def git_revision(root: Path) -> tuple[str | None, bool]:
    """The short commit of `root` and whether the work tree has uncommitted changes."""
    head = git(root, "rev-parse", f"--short={SHA_LENGTH}", "HEAD")
    if head is None:
        return None, False
    return head, bool(git(root, "status", "--porcelain", "--untracked-files=no", "--", "."))


def _succeeds(command: list[str]) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def docker_problem() -> str | None:
    """Why docker cannot build the generated Dockerfile here, or None when it can."""
    if not _succeeds(["docker", "version", "--format", "{{.Server.Version}}"]):
        return "docker's daemon is not reachable (`docker version` fails)"
    if not _succeeds(["docker", "buildx", "version"]):
        return "docker has no BuildKit (the buildx plugin), which the Dockerfile's `RUN --mount` needs"
    return None


def find_builder(preferred: str | None = None) -> tuple[str | None, list[str], list[str]]:
    """The builder to use, with blockers (it cannot build) and notes (why another was skipped).

    `preferred` must be on PATH; without it: docker when it is usable, else podman, else buildah.
    """
    if preferred is not None:
        if preferred not in BUILDERS:
            raise ScytheError(f"--builder must be one of {', '.join(BUILDERS)}, not {preferred!r}")
        if shutil.which(preferred) is None:
            raise ScytheError(f"{preferred} is not on PATH")
        problem = docker_problem() if preferred == "docker" else None
        blockers = [f"{problem} (buildah and podman need no daemon: --builder buildah)"] if problem else []
        return preferred, blockers, []
    notes: list[str] = []
    for candidate in BUILDERS:
        if shutil.which(candidate) is None:
            continue
        if candidate == "docker":
            problem = docker_problem()
            if problem is not None:
                notes.append(f"not building with docker: {problem}")
                continue
        return candidate, [], [f"{note}; building with {candidate}" for note in notes]
    return None, [], notes


def build_command(
    program: str, tags: list[str], labels: dict[str, str], build_args: dict[str, str]
) -> list[str]:
    """One builder's command line: docker through BuildKit (buildx), podman and buildah as is."""
    command = [program, "buildx", "build", "--load"] if program == "docker" else [program, "build"]
    command += ["--file", DOCKERFILE]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    for tag in tags:
        command += ["--tag", tag]
    command.append(".")
    return command


def parse_build_args(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` build arguments (e.g. PYTHON_IMAGE=..., UV_IMAGE=...: the Dockerfile's bases)."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ScytheError(f"--build-arg takes KEY=VALUE, not {pair!r}")
        args[key] = value
    return args


def plan(
    root: Path,
    *,
    image: str | None = None,
    extra_tags: list[str] | None = None,
    push: bool = False,
    builder: str | None = None,
    build_args: dict[str, str] | None = None,
) -> BuildPlan:
    """Tags `<image>:v<version>` and `<image>:<git sha>` (+ extras), and the commands to make them."""
    project = read_project(root)
    repository = image or project.name
    version = format_version(parse_version(project.version))
    sha, dirty = git_revision(root)
    labels = {"org.opencontainers.image.version": version}
    tags = [f"{repository}:{version}"]
    if sha:
        tags.append(f"{repository}:{sha}-dirty" if dirty else f"{repository}:{sha}")
        labels["org.opencontainers.image.revision"] = sha
    tags += [f"{repository}:{t}" for t in extra_tags or [] if f"{repository}:{t}" not in tags]
    chosen, builder_blockers, builder_notes = find_builder(builder)
    blockers = _blockers(project) + builder_blockers
    notes = builder_notes + _notes(project, sha, dirty)
    args = {"SCYTHE_IMAGE": tags[0], **(build_args or {})}
    program = chosen or "docker"
    command = build_command(program, tags, labels, args)
    pushes = [[program, "push", tag] for tag in tags] if push else []
    return BuildPlan(
        builder=chosen,
        tags=tags,
        build=command,
        push=pushes,
        blockers=blockers,
        notes=notes,
        labels=labels,
        build_args=args,
    )


def _blockers(project: Project) -> list[str]:
    """What would make the build fail, said before it starts rather than deep in its log."""
    blockers = []
    if not (project.root / DOCKERFILE).is_file():
        blockers.append(f"no {DOCKERFILE} in {project.root}")
    if not (project.root / "uv.lock").is_file():
        blockers.append("no uv.lock: run `uv lock` and commit it (the image installs the locked versions)")
    context = project.root.resolve()
    for where, path in project.local_paths:
        target = (project.root / path).resolve()
        if not target.is_relative_to(context):
            blockers.append(
                f"{where} points at {path}, outside the build context: the image cannot install from "
                "there (publish it, or put its wheel in the project's wheels/ folder and `uv lock`)"
            )
        elif where.endswith("find-links") and not target.is_dir():
            blockers.append(
                f"{where} names {path}/, which does not exist: the Dockerfile mounts it "
                "(an empty folder with a README.md is fine)"
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
            "no usable container builder (docker with its daemon and BuildKit, podman or buildah); "
            "install one, or elsewhere run:\n  " + "\n  ".join(show(c) for c in build.commands)
        )
    for command in build.commands:
        try:
            done = subprocess.run(command, cwd=root, check=False)
        except OSError as exc:
            raise ScytheError(f"cannot run {command[0]}: {exc}") from exc
        if done.returncode != 0:
            raise ScytheError(f"`{show(command)}` failed (exit {done.returncode})")
