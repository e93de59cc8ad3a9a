"""``homeport newsletter from URL|off|status``: which provider mails new entries to the members
who take the newsletter (``homeport.interop.newsletter_home``, ``docs/members.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption, fail

if TYPE_CHECKING:
    from homeport.services.context import Context

newsletter_app = typer.Typer(help="The newsletter: new entries mailed to members, through "
                                  "one provider's mail server.", no_args_is_help=True)


async def _choose(context: Context, url: str | None) -> dict[str, Any]:
    from homeport.cli.grants import _push
    from homeport.interop import newsletter_home

    record = await newsletter_home.choose(context, url)
    await _push(context)
    return record


@newsletter_app.command("from")
def send_from(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The provider that sends (homeport providers list).")],
    data: DataOption = None,
) -> None:
    """Mail each entry published from now on through this provider; what is already published
    is not sent."""
    from homeport.settings import load_settings
    from homeport.sync import providers

    settings = load_settings(data or (ctx.obj or {}).get("data"))
    try:
        entry = providers.find(settings.data_dir, url)
    except providers.ProvidersError as exc:
        raise fail(str(exc)) from None
    run(ctx, data, lambda context: _choose(context, str(entry["url"])))
    typer.echo(f"New entries will be mailed through {entry['url']}.")


@newsletter_app.command("off")
def off(ctx: typer.Context, data: DataOption = None) -> None:
    """Stop mailing new entries (the provider's delegation is withdrawn)."""
    run(ctx, data, lambda context: _choose(context, None))
    typer.echo("The newsletter is off.")


@newsletter_app.command("status")
def status(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    from homeport.interop import newsletter_home

    async def work(context: Context) -> dict[str, Any]:
        record = await newsletter_home.settings(context) or {}
        return {"provider": record.get("provider"), "sent": len(record.get("sent") or [])}

    shown = run(ctx, data, work)
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(shown))
    elif shown["provider"]:
        typer.echo(f"Sent through {shown['provider']} ({shown['sent']} entries so far).")
    else:
        typer.echo("The newsletter is off (homeport newsletter from URL).")
