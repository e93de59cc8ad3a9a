"""Responses: the webmentions other sites sent, to approve, reject, or block by domain.

Pending ones are shown first; approving one makes it public and the preview is rebuilt, so it
shows on its entry there and on every provider after the next publish.
"""

from __future__ import annotations

from starlette.responses import Response

from homeport.content import mentions
from homeport.core.errors import HomeportError
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page
from homeport.render.urls import web_address

ORDER = {mentions.PENDING: 0, mentions.APPROVED: 1, mentions.REJECTED: 2}


@page()
async def index(p: Page) -> Response:
    found = await mentions.list_mentions(p.ctx)
    found.sort(key=lambda m: ORDER.get(str(m.get("status")), 3))
    for m in found:  # strangers' links: only http(s) ones become links
        m["source_link"] = web_address(m.get("source")) or ""
        m["target_link"] = web_address(m.get("target")) or ""
        m["host"] = mentions.domain_of(str(m.get("source") or ""))
    blocked: list[str] = []
    for name in sorted({str(m["site"]) for m in found}):
        blocked.extend(await mentions.blocked_domains(p.ctx, name))
    counts = {s: sum(1 for m in found if m.get("status") == s) for s in mentions.STATUSES}
    return p.render("responses.html", mentions=found, counts=counts,
                    blocked=sorted(set(blocked)))


async def _moderate(p: Page, status: str, done: str) -> Response:
    rid = str(p.request.path_params["id"])
    try:
        await mentions.set_status(p.ctx, rid, status)
    except HomeportError as exc:
        p.flash(str(exc.message))
        return p.redirect(PREFIX + "/responses")
    problem = await rebuild(p)
    p.flash(problem or done)
    return p.redirect(PREFIX + "/responses")


@page()
async def approve(p: Page) -> Response:
    return await _moderate(p, mentions.APPROVED, "Approved: it shows on its entry.")


@page()
async def reject(p: Page) -> Response:
    return await _moderate(p, mentions.REJECTED, "Rejected: it will not be shown.")


@page()
async def block(p: Page) -> Response:
    form = await p.form()
    domain = str(form.get("domain") or "")
    try:
        count = await mentions.block_domain(p.ctx, domain)
    except HomeportError as exc:
        p.flash(str(exc.message))
        return p.redirect(PREFIX + "/responses")
    problem = await rebuild(p) if count else None
    p.flash(problem or f"Blocked {domain.strip().lower()}: {count} response"
            f"{'s' if count != 1 else ''} rejected; what it sends from now on is dropped.")
    return p.redirect(PREFIX + "/responses")


@page()
async def unblock(p: Page) -> Response:
    form = await p.form()
    domain = str(form.get("domain") or "")
    await mentions.unblock_domain(p.ctx, domain)
    p.flash(f"Unblocked {domain.strip().lower()}.")
    return p.redirect(PREFIX + "/responses")
