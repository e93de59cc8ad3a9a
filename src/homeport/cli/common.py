"""What every command shares: the ``--data`` and ``--json`` options and the one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data directory (default: $HOMEPORT_DATA, else the platform's user data dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``homeport: <message>`` on stderr; raise what this returns."""
    typer.echo(f"homeport: {message}", err=True)
    return typer.Exit(code)
