"""``homeport tokens create|list|revoke`` and ``homeport providers delegations list|revoke``:
what this home lets scripts and its providers do for it.

Every change is handed to the providers at once (``sync/grants.py``), so a new token works and
a revoked one stops within seconds; a provider that cannot be reached gets it with the next
publish, and the command says so on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption

if TYPE_CHECKING:
    from homeport.services.context import Context
    from homeport.sync.grants import Pushed

tokens_app = typer.Typer(help="Bearer tokens for scripts and apps (Micropub…).",
                         no_args_is_help=True)
delegations_app = typer.Typer(help="What each provider may do for this home.",
                              no_args_is_help=True)


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "never"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _warn(pushed: list[Pushed]) -> list[dict[str, Any]]:
    rows = []
    for p in pushed:
        rows.append({"url": p.url, "ok": p.error is None, "error": p.error})
        if p.error:
            typer.echo(f"homeport: warning: {p.url} not told yet (the next publish will): "
                       f"{p.error}", err=True)
    return rows


async def _push(ctx: Context) -> list[Pushed]:
    from homeport.sync import grants as grant_sync
    from homeport.sync import providers

    if not providers.load(ctx.settings.data_dir):
        return []
    return await grant_sync.sync(ctx)


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option(help='Space-separated scopes, e.g. "create update".')],
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="The app's URL, if it is for one.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime, e.g. 30d, 12h, 2w (default: no expiry).")
    ] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a bearer token usable at every provider; its secret is shown only now."""
    from homeport.services import grants

    async def work(context: Context) -> tuple[str, dict[str, Any], list[Pushed]]:
        lifetime = grants.duration_ms(expires) if expires else None
        secret, record = await grants.create_token(
            context, scope, client_id=client_id, expires_in=lifetime
        )
        return secret, record, await _push(context)

    secret, record, pushed = run(ctx, data, work)
    providers = _warn(pushed)
    doc = {
        "id": record["id"],
        "token": secret,
        "scope": " ".join(record["params"]["scope"]),
        "expires": record["expires"],
        "client_id": client_id,
        "providers": providers,
    }
    if as_json:
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"token {doc['id']} (scope: {doc['scope']}; expires {_when(doc['expires'])})")
    typer.echo(secret)
    typer.echo("Copy it now: it is not shown again.", err=True)


def _list(ctx: typer.Context, data: Any, as_json: bool, tokens: bool) -> None:
    from homeport.crypto.delegations import TOKEN
    from homeport.services import grants

    async def work(context: Context) -> list[dict[str, Any]]:
        now = context.clock()
        rows = [grants.public_view(r, now) for r in await grants.list_grants(context)]
        return [r for r in rows if (r["power"] == TOKEN) == tokens]

    rows = run(ctx, data, work)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no token yet (homeport tokens create --scope …)" if tokens
                   else "no delegation yet")
    for r in rows:
        what = r["scope"] if tokens else r["power"]
        where = "every provider" if r["audience"] == grants.EVERY_PROVIDER else r["audience"]
        by = "" if r["source"] == grants.HOME else f"  issued by {r['source']}"
        typer.echo(f"{r['id']}  {r['state']:<7}  {what}  {where}  expires "
                   f"{_when(r['expires'])}{by}")


def _revoke(ctx: typer.Context, grant_id: str, data: Any, tokens: bool) -> None:
    from homeport.crypto.delegations import TOKEN
    from homeport.services import grants

    async def work(context: Context) -> list[Pushed]:
        found = await grants.get_grant(context, grant_id)
        if (found.get("power") == TOKEN) != tokens:
            other = "homeport tokens revoke" if not tokens else "homeport providers delegations"
            raise grants.GrantError(f"{grant_id} is not a {'token' if tokens else 'delegation'}"
                                    f" (try {other})")
        await grants.revoke(context, grant_id)
        return await _push(context)

    pushed = run(ctx, data, work)
    _warn(pushed)
    typer.echo(f"revoked {grant_id}")


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """Every token: active, expired or revoked (issued here or by a provider's sign-in)."""
    _list(ctx, data, as_json, tokens=True)


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    grant_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id.")],
    data: DataOption = None,
) -> None:
    """Revoke a token: every provider refuses it within seconds."""
    _revoke(ctx, grant_id, data, tokens=True)


@delegations_app.command("list")
def list_delegations(
    ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False
) -> None:
    """The powers this home delegated to its providers (tokens are under homeport tokens)."""
    _list(ctx, data, as_json, tokens=False)


@delegations_app.command("revoke")
def revoke_delegation(
    ctx: typer.Context,
    grant_id: Annotated[str, typer.Argument(metavar="ID", help="The delegation's id.")],
    data: DataOption = None,
) -> None:
    """Revoke a delegation: the provider stops using it within seconds."""
    _revoke(ctx, grant_id, data, tokens=False)


def register(root: typer.Typer, providers: typer.Typer) -> None:
    root.add_typer(tokens_app, name="tokens")
    if all(g.typer_instance is not delegations_app for g in providers.registered_groups):
        providers.add_typer(delegations_app, name="delegations")  # once, whatever the roots


__all__ = ["register"]
