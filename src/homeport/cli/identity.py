"""``homeport init`` and ``homeport identity …``: the home's identity from its recovery phrase."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from homeport.cli.common import DataOption
from homeport.cli.common import fail as _fail
from homeport.crypto.keys import PhraseError
from homeport.services import identity as ids
from homeport.settings import default_data_dir

identity_app = typer.Typer(help="Show or rotate the home's identity keys.", no_args_is_help=True)


def read_phrase(prompt: str) -> str:
    """The phrase from stdin: typed without echo at a terminal, else read whole from the pipe."""
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True))
    return sys.stdin.read()


def init(data: Path | None, restore: bool, keep_root_key: bool, as_json: bool) -> None:
    directory = data or default_data_dir()
    try:
        if restore:
            identity = ids.restore(
                directory, read_phrase("Recovery phrase"), keep_root_key=keep_root_key
            )
            phrase = None
        else:
            identity, phrase = ids.create(directory, keep_root_key=keep_root_key)
    except (PhraseError, ids.IdentityStateError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out = {"did": identity.did, "signing_key": identity.signing_key}
        if phrase:
            out["phrase"] = phrase
        typer.echo(json.dumps(out))
        return
    typer.echo(f"Identity: {identity.did}")
    if phrase:
        typer.echo("")
        typer.echo("Recovery phrase (shown once; write it down and keep it offline):")
        words = phrase.split()
        for row in range(0, len(words), 6):
            line = "  ".join(
                f"{i + 1:2d}. {w:<9}" for i, w in enumerate(words) if row <= i < row + 6
            )
            typer.echo("  " + line.rstrip())
        typer.echo("")
        typer.echo("These 24 words are the only way to restore this home on another device.")


@identity_app.command("show")
def show(ctx: typer.Context, data: DataOption = None) -> None:
    """Print the identity (did:key) and the signing key in force."""
    directory = data or (ctx.obj or {}).get("data") or default_data_dir()
    try:
        identity = ids.load(directory)
    except (ids.IdentityStateError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"Identity:    {identity.did}")
    typer.echo(f"Signing key: {identity.signing_key}")
    typer.echo(f"Operations:  {len(identity.operations)}")


@identity_app.command("rotate")
def rotate(ctx: typer.Context, data: DataOption = None) -> None:
    """Replace this device's signing key; the identity stays the same. Needs the recovery
    phrase on stdin unless the root key was kept (``init --keep-root-key``)."""
    directory = data or (ctx.obj or {}).get("data") or default_data_dir()
    try:
        kept = (directory / ids.KEYS_DIR / "root.key").exists()
        phrase = None if kept else read_phrase("Recovery phrase")
        identity = ids.rotate(directory, phrase)
    except (PhraseError, ids.IdentityStateError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"Identity:    {identity.did}")
    typer.echo(f"Signing key: {identity.signing_key} (new)")
