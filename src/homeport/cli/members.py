"""``homeport tiers add|price|list`` and ``homeport members add|list|remove|export|import``: who the
site's members are, kept as private records at home (``homeport.members``). Like ``homeport
add``, each command opens the home's store, so it works beside a running ``homeport serve``,
whose auto-publish then hands providers the new entitlements."""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption, fail

if TYPE_CHECKING:
    from homeport.services.context import Context

tiers_app = typer.Typer(help="Membership tiers (free or paid monthly / yearly).",
                        no_args_is_help=True)
members_app = typer.Typer(help="The site's members: add, list, remove, export, import.",
                          no_args_is_help=True)
EmailArgument = Annotated[str, typer.Argument(help="The member's email address.")]


class Interval(StrEnum):
    month = "month"
    year = "year"


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _public_tier(tier: dict[str, Any]) -> dict[str, Any]:
    """A tier as shown: without its content key."""
    return {k: v for k, v in tier.items() if k not in ("key", "last_modified")}


def _price(tier: dict[str, Any]) -> str:
    amount = int(tier.get("amount") or 0)
    if not amount:
        return "free"
    return f"{amount / 100:.2f} {tier.get('currency')} / {tier.get('interval')}"


@tiers_app.command("add")
def tiers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The tier's name, e.g. Supporters.")],
    price: Annotated[str | None, typer.Option(help="Price per interval, e.g. 5 or 4.99 "
                                                   "(none: a free tier).")] = None,
    currency: Annotated[str | None, typer.Option(help="Three-letter code, e.g. EUR.")] = None,
    interval: Annotated[Interval | None, typer.Option(help="Billing interval.")] = None,
    benefit: Annotated[list[str] | None, typer.Option(
        help="A benefit shown with the tier (repeat for several).")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a tier; its id (from the name) is what --visibility names."""
    from homeport.members import store

    async def work(context: Context) -> dict[str, Any]:
        return await store.add_tier(context, name, price=price, currency=currency,
                                    interval=interval.value if interval else None,
                                    benefits=benefit or ())

    tier = _public_tier(run(ctx, data, work))
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(tier))
        return
    typer.echo(f"Added tier {tier['id']} ({_price(tier)}).")


@tiers_app.command("price")
def tiers_price(
    ctx: typer.Context,
    tier: Annotated[str, typer.Argument(help="The paid tier's id, e.g. supporters.")],
    price: Annotated[str, typer.Option(help="The new price per interval, e.g. 6 or 5.99.")],
    currency: Annotated[str | None, typer.Option(help="A new currency (default: kept).")] = None,
    interval: Annotated[Interval | None, typer.Option(help="A new interval (default: kept)."
                                                      )] = None,
    move_subscribers: Annotated[bool, typer.Option(
        "--move-subscribers", help="Move those paying the old price to the new one from "
        "their next renewal (by default they keep the old price).")] = False,
    data: DataOption = None,
) -> None:
    """Change a paid tier's price: a new price at the payment processor, the old one archived."""
    from homeport.interop import payments_home
    from homeport.members import store
    from homeport.members.payments import PaymentError

    async def work(context: Context) -> tuple[dict[str, Any], list[str], str]:
        found = await store.reprice_tier(
            context, tier, price=price, currency=currency,
            interval=interval.value if interval else None, move_subscribers=move_subscribers)
        if await payments_home.account(context) is None:
            return found, [], ""
        try:
            return found, await payments_home.setup_and_push(context), ""
        except PaymentError as exc:
            return found, [], str(exc)

    found, done, error = run(ctx, data, work)
    typer.echo(f"Tier {found['id']} is now {_price(found)}.")
    if done:
        typer.echo(f"Made at Stripe: {', '.join(done)}.")
    if error:
        typer.echo(f"Stripe did not take it yet (tried again after each publish): {error}",
                   err=True)


@tiers_app.command("list")
def tiers_list(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """List the tiers, cheapest first."""
    from homeport.members import store

    async def work(context: Context) -> list[dict[str, Any]]:
        return [_public_tier(t) for t in await store.list_tiers(context)]

    found = run(ctx, data, work)
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(found))
        return
    if not found:
        typer.echo("No tiers yet: homeport tiers add NAME [--price 5 --currency EUR].")
    for tier in found:
        typer.echo(f"{tier['id']:<20}  {_price(tier):<24}  {tier['name']}")


def _shown(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if k != "last_modified"}


@members_app.command("add")
def members_add(
    ctx: typer.Context,
    email: EmailArgument,
    tier: Annotated[str | None, typer.Option(help="The tier's id (homeport tiers list).")] = None,
    comp: Annotated[bool, typer.Option("--comp", help="Give the tier for free.")] = False,
    name: Annotated[str, typer.Option(help="The member's name.")] = "",
    label: Annotated[list[str] | None, typer.Option(help="A label (repeat for several).")
                     ] = None,
    note: Annotated[str, typer.Option(help="A private note.")] = "",
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a member (free, or complimentary on a tier with --comp); they can sign in at every
    provider after the next publish."""
    from homeport.members import store
    from homeport.members.model import MemberFields

    if comp and tier is None:
        raise fail("--comp needs --tier: the tier to give")
    status = "comped" if comp else "free"

    async def work(context: Context) -> dict[str, Any]:
        return await store.add_member(context, email, MemberFields(
            name=name, tier=tier, status=status, labels=tuple(label or ()), note=note))

    member = _shown(run(ctx, data, work))
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(member))
        return
    typer.echo(f"Added {member['email']}" + (f" ({status} on {tier})." if tier else "."))


@members_app.command("list")
def members_list(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option(help="Only those whose email, name or labels "
                                                    "contain this.")] = None,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the members, oldest first."""
    from homeport.members import store

    async def work(context: Context) -> list[dict[str, Any]]:
        return [_shown(m) for m in await store.list_members(context)]

    found = run(ctx, data, work)
    if search:
        needle = search.lower()
        found = [m for m in found if needle in " ".join(
            [str(m.get("email")), str(m.get("name")), *m.get("labels", ())]).lower()]
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(found))
        return
    if not found:
        typer.echo("No members.")
    for m in found:
        until = m.get("paid_until")
        paid = (f" until {dt.datetime.fromtimestamp(until / 1000, dt.UTC):%Y-%m-%d}"
                if isinstance(until, int) else "")
        typer.echo(f"{m['email']:<40}  {m.get('tier') or '-':<16}  {m['status']}{paid}")


@members_app.command("remove")
def members_remove(ctx: typer.Context, email: EmailArgument, data: DataOption = None) -> None:
    """Remove a member: they lose access at every provider after the next publish."""
    from homeport.members import store

    async def work(context: Context) -> dict[str, Any]:
        return await store.remove_member(context, email)

    run(ctx, data, work)
    typer.echo(f"Removed {email.strip().lower()}.")


@members_app.command("export")
def members_export(
    ctx: typer.Context,
    format: Annotated[Format, typer.Option("--format", help="csv (Ghost's columns) or json."
                                           )] = Format.csv,
    output: Annotated[Path | None, typer.Option(help="Write here (default: stdout).")] = None,
    data: DataOption = None,
) -> None:
    """Export every member: CSV in Ghost's members format (it imports there), or JSON."""
    from homeport.members import csvio, store

    async def work(context: Context) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return await store.list_members(context), await store.tiers_by_id(context)

    members, tiers = run(ctx, data, work)
    if format is Format.csv:
        text = csvio.ghost_csv(members, tiers)
    else:
        from homeport import jsonio

        text = jsonio.dumps_text([_shown(m) for m in members]) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    from homeport.files import write_atomically

    try:
        write_atomically(output, text.encode())
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"Exported {len(members)} members to {output}.", err=True)


@members_app.command("import")
def members_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A Ghost or Substack members CSV export.")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import members from a Ghost or Substack CSV export: all rows or none. A member already
    here is updated from the row."""
    from homeport.members import csvio, store

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None

    async def work(context: Context) -> int:
        names: dict[str, str] = {}
        for tier in await store.list_tiers(context):
            names[str(tier["name"]).lower()] = names[str(tier["id"])] = str(tier["id"])
        rows = csvio.read_csv(text, names)
        return len(await store.save_members(context, rows, replace=True))

    count = run(ctx, data, work)
    if as_json:
        typer.echo(f'{{"imported": {count}}}')
        return
    typer.echo(f"Imported {count} members.")
