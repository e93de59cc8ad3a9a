"""``homeport mentions list|approve|reject|block``: moderate the webmentions other sites sent.

Each command opens the home's store like ``homeport add`` does, so it works beside a running
``homeport serve``, which publishes the change (auto-publish).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption

if TYPE_CHECKING:
    from homeport.services.context import Context

mentions_app = typer.Typer(help="Moderate webmentions (replies, likes, reposts, mentions).",
                           no_args_is_help=True)
IdArgument = Annotated[str, typer.Argument(help="The mention's id (from 'mentions list').")]


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    author = record.get("author")
    author = author if isinstance(author, dict) else {}
    content = record.get("content")
    content = content if isinstance(content, dict) else {}
    return {
        "id": record["id"],
        "site": record.get("site"),
        "source": record.get("source"),
        "target": record.get("target"),
        "type": record.get("type"),
        "status": record.get("status"),
        "author": author,
        "content": str(content.get("text") or ""),
        "published": record.get("published"),
        "verified": record.get("verified"),
    }


@mentions_app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help="Only pending, approved or rejected ones.")] = None,
    as_json: JsonOption = False,
    data: DataOption = None,
) -> None:
    """List the mentions of every site, newest first."""
    from homeport.content import mentions

    if status is not None and status not in mentions.STATUSES:
        raise typer.BadParameter(f"one of: {', '.join(mentions.STATUSES)}", param_hint="--status")

    async def work(context: Context) -> list[dict[str, Any]]:
        return [_summary(r) for r in await mentions.list_mentions(context, status)]

    found = run(ctx, data, work)
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(found))
        return
    if not found:
        typer.echo("No mentions.")
        return
    for m in found:
        who = (m["author"] or {}).get("name") or "someone"
        typer.echo(f"{m['id']}  {m['status']:<8}  {m['type']:<8}  {who}: {m['source']} → "
                   f"{m['target']}")


def _moderate(ctx: typer.Context, data: Any, rid: str, status: str, as_json: bool) -> None:
    from homeport.content import mentions

    async def work(context: Context) -> dict[str, Any]:
        return _summary(await mentions.set_status(context, rid, status))

    done = run(ctx, data, work)
    if as_json:
        from homeport import jsonio

        typer.echo(jsonio.dumps_text(done))
        return
    typer.echo(f"{'Approved' if status == mentions.APPROVED else 'Rejected'} {rid} "
               f"({done['type']} from {done['source']})")


@mentions_app.command("approve")
def approve(ctx: typer.Context, mention: IdArgument, as_json: JsonOption = False,
            data: DataOption = None) -> None:
    """Approve a mention: it shows on its entry once the site is published."""
    _moderate(ctx, data, mention, "approved", as_json)


@mentions_app.command("reject")
def reject(ctx: typer.Context, mention: IdArgument, as_json: JsonOption = False,
           data: DataOption = None) -> None:
    """Reject a mention: kept, never shown (approve it later to change your mind)."""
    _moderate(ctx, data, mention, "rejected", as_json)


@mentions_app.command("block")
def block(ctx: typer.Context,
          domain: Annotated[str, typer.Argument(help="A domain, e.g. spam.example.")],
          data: DataOption = None) -> None:
    """Block a domain (and the hosts below it): its mentions are rejected, later ones dropped."""
    from homeport.content import mentions

    async def work(context: Context) -> int:
        return await mentions.block_domain(context, domain)

    count = run(ctx, data, work)
    typer.echo(f"Blocked {domain.strip().lower()}; {count} mention(s) rejected.")
