"""The `scythe` app itself: the Typer object, the one-line error wrapper and the shared options.

Command modules (`run`, `results`, `project`, `dev`) add their commands to `app`; this module
imports none of them, so there is no cycle. Every user mistake ends as one `error:` line and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from scythe.errors import RunInterrupted, ScytheError

if TYPE_CHECKING:
    from scythe.settings import ScytheSettings

P = ParamSpec("P")
R = TypeVar("R")

# Plain click help, not rich markup: rich reads `[env: SCYTHE_STORE]` as a style tag and drops it,
# and it gives every flag a `<bool>` metavar as if it took a value.
app = typer.Typer(
    help="Scaffold, run and gather embarrassingly parallel experiments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# No markup by default: user paths and values (`d/[x]/a.csv`, `:x:`) print as typed; styled labels opt in.
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

EXIT_ERROR = 1
EXIT_FAILED_SPECS = 3


def hinted(text: str, *, env: str | None = None, default: str | None = None) -> str:
    """Option help ending in its hints, e.g. `Where runs go [env: SCYTHE_STORE; default: ./scythe-store]`.

    For an option whose value otherwise comes from a setting (read by `ScytheSettings`, not by click)
    or whose unset value means something (`--workers`: the CPU count); a literal default
    (`--n 100`) is shown by typer itself.
    """
    hints = [f"env: {env}"] * (env is not None) + [f"default: {default}"] * (default is not None)
    return f"{text}  [{'; '.join(hints)}]" if hints else text


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "-s",
        help=hinted("Directory or s3://bucket/prefix.", env="SCYTHE_STORE", default="./scythe-store"),
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help=hinted(
            "Slots for the embedded backend: up to the cores a process each; beyond, each core's task"
            " process spreads its batches over workers ÷ cores spec processes.",
            env="SCYTHE_WORKERS",
            default="CPU count",
        ),
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
RunArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN",
        help="experiment/version/run_id, a run id or a unique prefix of one, latest, or EXPERIMENT@latest.",
    ),
]


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn user-caused failures into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ScytheError as exc:
            _say_error("[bold red]error:[/]", str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        except ValidationError as exc:  # settings from the environment
            _say_error("[bold red]error:[/]", f"invalid setting: {exc}")
            raise typer.Exit(EXIT_ERROR) from None
        except RunInterrupted as exc:
            kept = f"finished batches are kept; `{exc.resume_command}` continues"
            _say_error("[yellow]interrupted:[/]", kept)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            _say_error("[yellow]interrupted:[/]", "finished batches are kept; `scythe resume RUN` continues")
            raise typer.Exit(130) from None

    return wrapper


def _say_error(label: str, text: str) -> None:
    """`label` styled, `text` exactly as it is: paths and values are never read as rich markup."""
    err.print(f"{label} {escape(text)}", highlight=False, soft_wrap=True, markup=True)


def warn(text: str) -> None:
    """A yellow `warning:` line on stderr, `text` as it is."""
    _say_error("[yellow]warning:[/]", text)


class _WarningLines(logging.Handler):
    """What the runtime tells a user while it carries on (`scythe.run` warnings: a damaged batch
    that runs again) as `warning:` lines, like the CLI's own."""

    def emit(self, record: logging.LogRecord) -> None:
        warn(record.getMessage())


logging.getLogger("scythe.run").addHandler(_WarningLines(logging.WARNING))


def parse_pairs(items: list[str], option: str, key: str = "KEY") -> dict[str, str]:
    """`KEY=VALUE` option values (`--data`, `--set`) as a dict; one line naming a malformed one."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ScytheError(f"{option} takes {key}=VALUE, not {item!r}")
        pairs[name.strip()] = value
    return pairs


def settings() -> ScytheSettings:
    """This command's settings, read once here and passed down."""
    from scythe.settings import get_settings

    return get_settings()


def _version_callback(value: bool) -> None:
    if value:
        from scythe.extras import DISTRIBUTION
        from scythe.run.versions import scythe_version

        out.print(f"{DISTRIBUTION} {scythe_version()}")  # the name to `pip install`
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Scythe: your experiment's schema and function in; tidy Parquet files out.

    Settings come from SCYTHE_* environment variables (and .env): SCYTHE_STORE, SCYTHE_BACKEND,
    SCYTHE_WORKERS, SCYTHE_CACHE_DIR, SCYTHE_S3_ENDPOINT_URL; S3 credentials from AWS_*.
    """
