"""The Members page: tiers (add), members (search, add, comp, remove), sign-ups, revenue and
donations per month, export as Ghost's CSV, which provider may serve members' content, and the
payment processor's keys (test or live). The same use
cases as ``homeport tiers`` and ``homeport members`` (``homeport.members``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from starlette.responses import Response

from homeport.core.errors import HomeportError
from homeport.gui import uploads
from homeport.gui.pages import PREFIX, Page, page
from homeport.members import csvio, donations, store
from homeport.members.model import MemberError, MemberFields, entitled_tier
from homeport.sync import grants as grant_sync
from homeport.sync import providers

SHOWN = 200
"""Members listed at once (search narrows the list)."""
MONTHS = 12


def _month(ms: Any) -> str:
    if not isinstance(ms, int):
        return "?"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m")


def _price(tier: dict[str, Any]) -> str:
    amount = int(tier.get("amount") or 0)
    if not amount:
        return "free"
    return f"{amount / 100:.2f} {tier.get('currency')} / {tier.get('interval')}"


def summary(members: list[dict[str, Any]], tiers: dict[str, dict[str, Any]], now: int
            ) -> tuple[list[tuple[str, int]], dict[str, float]]:
    """Sign-ups per month (the last twelve with any) and the monthly revenue of the payments
    in force now, per currency (a yearly price counts a twelfth)."""
    signups: dict[str, int] = defaultdict(int)
    revenue: dict[str, float] = defaultdict(float)
    for member in members:
        signups[_month(member.get("created"))] += 1
        tier = tiers.get(str(member.get("tier")))
        if member.get("status") != "paid" or not tier or not entitled_tier(member, now):
            continue
        amount = int(tier.get("amount") or 0) / 100
        revenue[str(tier.get("currency"))] += amount / 12 if tier.get("interval") == "year" \
            else amount
    months = sorted(signups.items(), reverse=True)[:MONTHS]
    return months, {k: round(v, 2) for k, v in sorted(revenue.items())}


def donated(rows: list[dict[str, Any]]) -> list[tuple[str, int, dict[str, float]]]:
    """Donations per month (the last twelve with any): how many, and what they brought per
    currency once refunds are taken off."""
    count: dict[str, int] = defaultdict(int)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        month = _month(row.get("created"))
        kept = int(row.get("amount") or 0) - int(row.get("refunded_amount") or 0)
        count[month] += 1
        sums[month][str(row.get("currency"))] += kept / 100
    return [(month, count[month], {c: round(v, 2) for c, v in sorted(sums[month].items())})
            for month in sorted(count, reverse=True)[:MONTHS]]


async def _account(p: Page) -> dict[str, Any]:
    """The payment account as the page shows it: never a key."""
    from homeport.interop import payments_home

    record = await payments_home.account(p.ctx)
    if record is None:
        return {"connected": False}
    return {"connected": True, "mode": record.get("mode"), "currency": record.get("currency"),
            "prices": len(record.get("prices") or {}),
            "providers": len(record.get("endpoints") or {})}


async def _page(p: Page, status: int = 200, error: str | None = None, **form: str) -> Response:
    query = p.request.query_params.get("q", "").strip().lower()[:200]
    tiers = await store.tiers_by_id(p.ctx)
    members = await store.list_members(p.ctx)
    months, revenue = summary(members, tiers, p.now)
    gifts = await donations.list_donations(p.ctx)
    shown = [m for m in members if not query or query in " ".join(
        [str(m.get("email")), str(m.get("name")), *m.get("labels", ())]).lower()]
    serving = [{"url": e["url"], "content": (e.get("rules") or {}).get("members_content")
                is not False} for e in providers.load(p.ctx.settings.data_dir)]
    return p.render(
        "members.html", status, error=error, form=form, query=query,
        tiers=[{**t, "price": _price(t)} for t in tiers.values()],
        members=shown[:SHOWN], total=len(members), more=max(0, len(shown) - SHOWN),
        months=months, revenue=revenue, serving=serving, donations=donated(gifts),
        account=await _account(p),
    )


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def add_tier(p: Page) -> Response:
    form = await p.form()
    name = uploads.line(form, "name", 100)
    price = uploads.line(form, "price", 20) or None
    try:
        tier = await store.add_tier(
            p.ctx, name, price=price,
            currency=(uploads.line(form, "currency", 3) or None) if price else None,
            interval=(uploads.line(form, "interval", 5) or None) if price else None,
            benefits=[b for b in uploads.text(form, "benefits", 4000).splitlines()])
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message), name=name)
    p.flash(f"Tier {tier['id']} added: entries can now be for its members.")
    return p.redirect(PREFIX + "/members")


@page()
async def reprice_tier(p: Page) -> Response:
    """A paid tier's new price: a new price at Stripe at once when an account is connected
    (the old one archived); its subscribers keep theirs unless moved."""
    from homeport.interop import payments_home
    from homeport.members.payments import PaymentError

    form = await p.form()
    tier = uploads.line(form, "tier", 40)
    try:
        found = await store.reprice_tier(
            p.ctx, tier, price=uploads.line(form, "price", 20),
            move_subscribers=uploads.line(form, "move", 5) == "on")
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message))
    p.flash(f"Tier {found['id']} is now {_price(found)}.")
    if await payments_home.account(p.ctx) is not None:
        try:
            done = await payments_home.setup_and_push(p.ctx)
            if done:
                p.flash("Made at Stripe: " + ", ".join(done) + ".")
        except PaymentError as exc:
            p.flash(f"Stripe did not take it yet (tried again after each publish): {exc}")
    return p.redirect(PREFIX + "/members")


@page()
async def add_member(p: Page) -> Response:
    form = await p.form()
    email = uploads.line(form, "email", 320)
    tier = uploads.line(form, "tier", 40) or None
    comp = uploads.line(form, "comp", 5) == "on"
    try:
        if comp and tier is None:
            raise MemberError("choose the tier to give for free")
        member = await store.add_member(p.ctx, email, MemberFields(
            name=uploads.line(form, "name", 200), tier=tier,
            status="comped" if comp else "free"))
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message), email=email)
    p.flash(f"{member['email']} added: they can sign in at your providers after the next "
            "publish.")
    return p.redirect(PREFIX + "/members")


@page()
async def remove_member(p: Page) -> Response:
    form = await p.form()
    email = uploads.line(form, "email", 320)
    try:
        await store.remove_member(p.ctx, email)
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message))
    p.flash(f"{email} removed: they lose access at every provider after the next publish.")
    return p.redirect(PREFIX + "/members")


@page()
async def serving(p: Page) -> Response:
    """Give a provider the tiers' keys, or take them back (it then shows teasers only)."""
    form = await p.form()
    url = uploads.line(form, "url", 2000)
    content = uploads.line(form, "content", 5) == "on"
    try:
        providers.set_rules(p.ctx.settings, url, None, None, content)
    except (HomeportError, providers.ProvidersError) as exc:
        return await _page(p, 400, str(getattr(exc, "message", None) or exc))
    pushed = await grant_sync.sync(p.ctx, only=url)
    p.flash(f"{url} " + ("serves members-only entries to members." if content
                         else "shows members-only entries as teasers only."))
    for outcome in pushed:
        if outcome.error:
            p.flash(f"{url} was not told yet (the next publish will): {outcome.error}")
    return p.redirect(PREFIX + "/members")


@page()
async def payments(p: Page) -> Response:
    """Connect the creator's Stripe account (test or live keys): checked with Stripe first,
    then set up for every provider; the keys are never shown again."""
    from homeport.interop import payments_home
    from homeport.members.payments import PaymentError

    form = await p.form()
    secret = uploads.line(form, "secret_key", 300)
    restricted = uploads.line(form, "restricted_key", 300)
    currency = uploads.line(form, "currency", 3) or "EUR"
    try:
        record = await payments_home.connect(p.ctx, secret, restricted, currency)
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message), currency=currency)
    mode = "test" if record.get("mode") == "test" else "live"
    p.flash(f"Stripe connected in {mode} mode.")
    try:
        done = await payments_home.setup_and_push(p.ctx)
        if done:
            p.flash("Made at Stripe: " + ", ".join(done) + ".")
    except PaymentError as exc:
        p.flash(f"Stripe did not finish the set-up (it is tried again after each publish): "
                f"{exc}")
    return p.redirect(PREFIX + "/members")


@page()
async def export(p: Page) -> Response:
    text = csvio.ghost_csv(await store.list_members(p.ctx), await store.tiers_by_id(p.ctx))
    return Response(text.encode(), 200, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="members.csv"',
        "Cache-Control": "no-store"})
