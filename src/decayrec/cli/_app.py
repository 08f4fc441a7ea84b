"""The Typer application object and shared CLI state (kept apart to avoid import cycles)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import typer
from rich.console import Console

__all__ = ["app", "console", "state"]


@dataclass
class _State:
    verbose: bool = False


state = _State()
#: Tables of metrics are wide: when output goes to a file or pipe, do not squeeze them into 80
#: columns (rich's default there); ``COLUMNS`` still wins when set.
console = Console(
    highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140
)
app = typer.Typer(
    name="decayrec",
    help="Time-decayed interest profiles and recommendations for online shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
