"""The scaffolder's commands: `scythe new`, `scythe specs`, `scythe update`, `scythe build`.

Thin, like the rest of the CLI: each parses, calls `scythe.project` (scaffold, codegen, image), and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scythe.cli.app import app, err, friendly, hinted, out, parse_pairs, warn
from scythe.errors import ScytheError

MAX_DIFF_LINES = 60

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project", "-p", help=hinted("The experiment project.", default="the one around this folder")
    ),
]


def _project(project: Path | None) -> Path:
    from scythe.project.codegen import find_project

    return find_project(project or Path.cwd())


def _say(text: str) -> None:
    out.print(text, highlight=False, markup=False, soft_wrap=True)


def _shown(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


@app.command("new")
@friendly
def new(
    name: Annotated[Path, typer.Argument(help="Folder to create; its name becomes the project name.")],
    defaults: Annotated[bool, typer.Option("--defaults", help="Ask nothing: take every default.")] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", "-d", metavar="KEY=VALUE", help="An answer to a template question (repeatable)."
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help=hinted(
                "Template folder, git URL or Scythe checkout.",
                env="SCYTHE_TEMPLATE",
                default="the bundled one, versioned like Scythe",
            )
        ),
    ] = None,
    vcs_ref: Annotated[
        str | None,
        typer.Option("--vcs-ref", help=hinted("Template tag or commit.", default="its latest tag")),
    ] = None,
) -> None:
    """Render a new experiment project from the template.

    Schemas, generated specs, the experiment, tests, a Dockerfile and CI.

    Interactive unless --defaults; answers: project_name, package_name, experiment_name,
    class_prefix, description, schema_format (yaml|json), python_version (other keys are refused).
    The project depends on this Scythe release (scythe-sweep>=MAJOR.MINOR,<MAJOR+1).
    """
    from scythe.project.scaffold import new as render

    created = render(
        name, data=parse_pairs(data or [], "--data"), defaults=defaults, template=template, vcs_ref=vcs_ref
    )
    _say(f"created  {_shown(created.path)}")
    _say(f"specs    {_shown(created.specs)}")
    if created.git_initialised:
        _say("git      initialised (nothing committed yet)")
    _say(f"next     cd {_shown(created.path)} && uv sync && uv run pytest   (README.md explains the loop)")


@app.command("specs")
@friendly
def specs(
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if the spec module is out of step.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Generate src/<package>/specs.py from schemas/.

    Deterministic: the same schemas give the same bytes.
    """
    from scythe.project import codegen

    layout = codegen.layout(_project(project))
    shown = layout.shown(layout.module).as_posix()
    if check:
        status = codegen.compare(layout)
        if not status.current:
            lines = status.diff.splitlines()
            err.print("\n".join(lines[:MAX_DIFF_LINES]), highlight=False, markup=False, soft_wrap=True)
            if len(lines) > MAX_DIFF_LINES:
                err.print(f"… {len(lines) - MAX_DIFF_LINES} more diff lines", highlight=False)
            raise ScytheError(
                f"{shown} is out of step with {layout.shown(layout.schemas).as_posix()}/ "
                f"(+{status.added} -{status.removed} lines): run `scythe specs` and commit it"
            )
        _say(f"up to date  {shown}")
        return
    status = codegen.write(layout)
    _say(f"{'unchanged' if status.current else 'wrote'}  {shown}")


@app.command("update")
@friendly
def update(
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            "--vcs-ref",
            help=hinted(
                "Template tag or commit to update to.",
                default="its latest tag; the bundled template: this Scythe's",
            ),
        ),
    ] = None,
    conflict: Annotated[
        str,
        typer.Option(
            metavar="inline|rej", help="How to leave conflicts: markers in the file, or .rej files."
        ),
    ] = "inline",
    project: ProjectOpt = None,
) -> None:
    """Merge a newer template version in, keeping your edits.

    Runs copier update; the project must be a clean git work tree. Exit 1 when some files need a
    hand-merge.
    """
    from scythe.project.scaffold import update as run_update

    if conflict not in ("inline", "rej"):
        raise ScytheError(f"--conflict must be inline or rej, not {conflict!r}")
    result = run_update(_project(project), vcs_ref=vcs_ref, conflict="rej" if conflict == "rej" else "inline")
    if result.changed:
        _say(f"updated  template {result.old_version} → {result.new_version}")
    else:
        _say(f"template already at {result.new_version}")
    if result.specs_stale:
        warn("the spec module is out of step with the schemas: run `scythe specs`")
    if result.conflicts:
        listed = "\n".join(f"  {name}" for name in result.conflicts)
        raise ScytheError(
            f"{len(result.conflicts)} file(s) need a hand-merge (resolve, then commit):\n{listed}"
        )
    if result.changed:
        _say("review   git diff, then commit")


@app.command("build")
@friendly
def build(
    push: Annotated[bool, typer.Option("--push", help="Push every tag after building.")] = False,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="TAG", help="Extra tag, e.g. latest (repeatable)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            help=hinted("Image repository, e.g. ghcr.io/acme/my-experiment.", default="the project name")
        ),
    ] = None,
    builder: Annotated[
        str | None,
        typer.Option(
            help=hinted(
                "docker (through BuildKit: the Dockerfile uses RUN --mount), podman or buildah.",
                default="docker if its daemon and buildx answer, else podman, else buildah",
            )
        ),
    ] = None,
    build_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--build-arg",
            metavar="KEY=VALUE",
            help="A Dockerfile build argument, e.g. PYTHON_IMAGE=... or UV_IMAGE=... (repeatable).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the commands; run nothing.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan (tags, labels, build args) as JSON; run nothing.")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Build the experiment's worker image.

    Tagged <name>:v<version> and <name>:<git sha>.
    """
    from scythe.project import image as images

    root = _project(project)
    args = images.parse_build_args(build_arg or [])
    plan = images.plan(root, image=image, extra_tags=tag or [], push=push, builder=builder, build_args=args)
    for note in [*plan.blockers, *plan.notes]:
        warn(note)
    if as_json:
        _say(plan.to_json())
        return
    hint = f"set SCYTHE_IMAGE={plan.image} so each run's manifest records this image"
    if dry_run:
        for command in plan.commands:
            _say(images.show(command))
        _say(f"# {hint}")
        return
    images.execute(plan, root)
    _say(f"built    {', '.join(plan.tags)}")
    if push:
        _say("pushed   every tag")
    _say(f"next     {hint}")
