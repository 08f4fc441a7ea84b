"""The ``decayrec`` command: one entry point with subcommands.

Exit codes: 0 success, 2 usage errors (bad flags or values), 3 failures (a data file that
cannot be read as the named format, a model folder that is not a model, ...). A
:class:`~decayrec.errors.DecayrecError` prints one line; ``-v`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from decayrec.cli._app import app, state
from decayrec.errors import DecayrecError, InvalidParameterError

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "app", "main"]

EXIT_USAGE = 2
EXIT_FAILURE = 3


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug output.")
    ] = False,
) -> None:
    """decayrec: time-decayed interest profiles and recommendations for online shops."""
    state.verbose = verbose


def _register() -> None:
    # Subcommand modules add themselves to ``app`` on import.
    from decayrec.cli import data, demo, evaluate, fit, report, serve, tune  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the console script)."""
    _register()
    args = sys.argv[1:] if argv is None else argv
    state.verbose = "-v" in args or "--verbose" in args
    try:
        # Standalone mode lets Typer print usage errors and exit 2 itself (SystemExit below).
        app(args=args, prog_name="decayrec")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except InvalidParameterError as error:
        _report(error)
        return EXIT_USAGE
    except DecayrecError as error:
        _report(error)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("decayrec: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        _report(error)
        return EXIT_FAILURE
    return 0


def _report(error: BaseException) -> None:
    if state.verbose:
        traceback.print_exception(error)
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"decayrec: error: {message}", file=sys.stderr)


def console_main() -> None:
    """Console-script entry point."""
    sys.exit(main())
