"""What the command line prints, and where: results on stdout; progress, warnings and errors on stderr.

The output standard: an expected error (a bad file, an unknown option, an empty database) is one
``error:`` line, at most one ``hint:`` line, and a non-zero exit code; an unexpected error keeps its
traceback. Prefect's own log lines appear only with ``--verbose``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# Piped output is as wide as its content, not cut to 80 columns; a terminal gets its own width.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print ``error: message`` (and ``hint: ...``) on stderr and exit with ``code``.

    Called while handling the exception that caused it, it first releases that exception's frames
    (see ``release_frames``).
    """
    release_frames(sys.exc_info()[1])
    err.print(f"[bold red]error:[/] {escape(message)}")  # messages may hold [brackets]
    if hint:
        err.print(f"[bold]hint:[/] {escape(hint)}")
    raise typer.Exit(code=code)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


def progress(message: str) -> None:
    err.print(escape(message))


def release_frames(exc: BaseException | None) -> None:
    """Drop the local variables of every frame in ``exc``'s tracebacks (its causes included).

    An exception raised inside a Prefect task or flow stays referenced by the run's state until
    the interpreter exits, and its traceback keeps each frame's locals alive: the DuckDB connection
    the failing step had opened among them. DuckDB's bindings then report those objects as leaked
    at exit (``nanobind: leaked ...``, some 40 lines). The message is all an expected error needs.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def configure_logging(verbose: bool) -> None:
    """Before Prefect is imported: its console log only with ``verbose``, the library's progress always.

    Prefect still sends every log line to its API (the UI of a real server); only its console
    handler is quietened. The library logs under ``forecast`` (compiling, sampling, retries).
    """
    # Show the library's own progress messages (compiling, sampling) among a flow's logs in the UI.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "forecast")
    library = logging.getLogger("forecast")
    library.setLevel(logging.INFO)
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "DEBUG"
        return
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    if not any(getattr(h, "_demand_forecast", False) for h in library.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._demand_forecast = True  # type: ignore[attr-defined]
        library.addHandler(handler)
        library.propagate = False  # not twice through Prefect's root handler


class Group(typer.core.TyperGroup):
    """Typer's command group, with click's usage errors in the output standard's two lines."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # typer's own click: a usage error, a bad value
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                out.print(exc.format_message(), markup=False, highlight=False)
                code = 0
            else:
                err.print(f"[bold red]error:[/] {escape(exc.format_message())}")
                if ctx is not None:
                    err.print(f"[bold]hint:[/] see `{escape(ctx.command_path)} --help`")
                code = exc.exit_code
        except typer.Abort:
            err.print("aborted")
            code = 1
        sys.exit(code if isinstance(code, int) else 0)
