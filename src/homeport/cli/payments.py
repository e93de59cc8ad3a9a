"""``homeport payments stripe|status``: the creator's own Stripe account, connected at home
(``homeport.interop.payments_home``). The secret key never leaves the home; each provider gets
the restricted key and its own webhook secret as a delegation (``docs/members.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption

if TYPE_CHECKING:
    from homeport.services.context import Context

payments_app = typer.Typer(help="Payments into your own Stripe account: connect, status.",
                           no_args_is_help=True)


@payments_app.command("stripe")
def stripe(
    ctx: typer.Context,
    secret_key: Annotated[str, typer.Option(
        "--secret-key", envvar="HOMEPORT_STRIPE_SECRET_KEY",
        help="Your account's secret key (sk_test_… or sk_live_…): stays on this home.")],
    restricted_key: Annotated[str, typer.Option(
        "--restricted-key", envvar="HOMEPORT_STRIPE_RESTRICTED_KEY",
        help="A restricted key (rk_…) with write access to Checkout Sessions and the Customer "
             "portal and read access to Customers and Subscriptions: handed to providers.")],
    currency: Annotated[str, typer.Option(help="Currency of donations.")] = "EUR",
    data: DataOption = None,
) -> None:
    """Connect a Stripe account: a price per paid tier, a webhook endpoint per provider."""
    from homeport.interop import payments_home
    from homeport.members.payments import PaymentError

    async def work(context: Context) -> list[str]:
        await payments_home.connect(context, secret_key, restricted_key, currency)
        try:
            return await payments_home.setup_and_push(context)
        except PaymentError as exc:
            raise payments_home.PaymentSetupError(str(exc)) from None

    done = run(ctx, data, work)
    typer.echo("Stripe connected." + (f" Made: {', '.join(done)}." if done else ""))


@payments_app.command("reconcile")
def reconcile(ctx: typer.Context, data: DataOption = None) -> None:
    """Ask Stripe about every member's subscription and write what it says."""
    from homeport.interop import payments_home
    from homeport.members.payments import PaymentError

    async def work(context: Context) -> dict[str, int]:
        try:
            return await payments_home.reconcile(context)
        except PaymentError as exc:
            raise payments_home.PaymentSetupError(str(exc)) from None

    done = run(ctx, data, work)
    typer.echo(f"Checked {done['subscriptions']} subscriptions; {done['changed']} members "
               "changed.")


@payments_app.command("status")
def status(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """The connected account (never its keys), the tiers' prices and each provider's
    endpoint and delegation."""
    from homeport.interop import payments_home
    from homeport.services import grants

    async def work(context: Context) -> dict[str, Any]:
        record = await payments_home.account(context)
        if record is None:
            return {"connected": False}
        providers = {}
        for url, endpoint in (record.get("endpoints") or {}).items():
            grant_id = (record.get("delegations") or {}).get(url)
            state = "none"
            if isinstance(grant_id, str):
                try:
                    state = grants.state(await grants.get_grant(context, grant_id),
                                         context.clock())
                except grants.GrantError:
                    state = "none"
            providers[url] = {"webhook": endpoint.get("url"), "delegation": state}
        return {"connected": True, "processor": "stripe", "mode": record.get("mode"),
                "currency": record.get("currency"), "prices": record.get("prices") or {},
                "current": {tier: held.get("price") for tier, held in
                            (record.get("current") or {}).items()},
                "providers": providers}

    shown = run(ctx, data, work)
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(shown))
        return
    if not shown["connected"]:
        typer.echo("No payment account connected (homeport payments stripe --help).")
        return
    typer.echo(f"Stripe ({shown['mode']} mode), donations in {shown['currency']}.")
    for price, tier in shown["prices"].items():
        now = shown["current"].get(tier) in (price, None)
        typer.echo(f"  tier {tier}: price {price}" + ("" if now else
                                                       " (archived: its subscribers keep it)"))
    for url, row in shown["providers"].items():
        typer.echo(f"  {url}: webhook {row['webhook']}, delegation {row['delegation']}")
