"""Payments at home: the creator's Stripe account connected, what each provider is handed, and
the home's final word on each payment event.

``connect`` keeps the account's keys in a private record (``homeport/payments/stripe``: sealed
in the signed repository, so they move with the site and come back from the phrase) and runs
``setup``, which is idempotent and also runs after each publish: a product and price for every
paid tier that has none, a webhook endpoint (with its own secret) for every provider that has
none, and for each provider a ``payments-stripe`` delegation carrying the restricted key, that
provider's secret and the site's prices, renewed when any of them changes.

``stripe_event`` is the inbox handler for what providers received: the home asks Stripe again
(with its secret key) and writes the member — tier, ``paid``, ``paid_until`` the end of the
period paid for, the payment references, which provider signed them up — so the next publish
hands every provider the home's answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from homeport import jsonio
from homeport.core.errors import InvalidParameters
from homeport.interop.ports import InboxItem
from homeport.members import donations, store
from homeport.members.model import MemberError, MemberFields
from homeport.members.payments import (
    DONATION,
    KIND,
    SITE,
    STRIPE_POWER,
    Donation,
    Offer,
    PaymentError,
    classify,
    subscription_access,
)
from homeport.members.stripe_processor import StripeProcessor
from homeport.services import grants, identity, writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import COLLECTION, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

log = logging.getLogger("homeport.payments")

COLLECTION_NAME = "payments"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"
STRIPE = "stripe"
WEBHOOK_PATH = "/_homeport/payments/stripe"
DELEGATION_MS = 365 * 86_400_000
RENEW_MS = 30 * 86_400_000
"""A delegation with less than this left is made anew by ``setup``."""
T = TypeVar("T")


class PaymentSetupError(InvalidParameters):
    """The account cannot be connected or used as asked; the message says why."""


def processor(ctx: Context) -> StripeProcessor:
    return StripeProcessor(ctx.settings.stripe_api_base)


async def _ensure(ctx: Context) -> None:
    await store.ensure(ctx)
    parent = f"/buckets/{SYSTEM_BUCKET}"
    async with unit_of_work(ctx):
        if await find_object(ctx, COLLECTION, parent, COLLECTION_NAME) is None:
            await writes.save(ctx, OWNER, COLLECTION, parent, COLLECTION_NAME, {}, None,
                              existing=None, replace_permissions=False)


async def account(ctx: Context) -> JSONObject | None:
    """The Stripe account's record, or None when none is connected."""
    try:
        return await find_object(ctx, RECORD, PARENT, STRIPE)
    except Exception:  # no system bucket or collection yet
        return None


async def _save(ctx: Context, record: JSONObject, existing: JSONObject | None) -> JSONObject:
    await _ensure(ctx)
    body = {k: v for k, v in record.items() if k != "last_modified"}
    async with unit_of_work(ctx):
        written = await writes.save(ctx, OWNER, RECORD, PARENT, STRIPE, body, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


async def connect(ctx: Context, secret_key: str, restricted_key: str,
                  currency: str = "EUR") -> JSONObject:
    """Keep the account's keys (``sk_…`` stays home; ``rk_…`` goes to the providers)."""
    secret_key, restricted_key = secret_key.strip(), restricted_key.strip()
    if not secret_key.startswith("sk_"):
        raise PaymentSetupError("the secret key starts with sk_ (Stripe's Developers > API keys)")
    if not restricted_key.startswith("rk_"):
        raise PaymentSetupError("the restricted key starts with rk_ (create one with write access "
                                "to Checkout Sessions and Customer portal, read access to "
                                "Customers and Subscriptions)")
    if len(currency) != 3 or not currency.isalpha():
        raise PaymentSetupError("the currency is a three-letter code like EUR")
    if ("_test_" in secret_key) != ("_test_" in restricted_key):
        raise PaymentSetupError("both keys are test keys (…_test_…) or both live keys")
    stripe = processor(ctx)
    for key, which in ((secret_key, "secret"), (restricted_key, "restricted")):
        try:
            await asyncio.to_thread(stripe.check_key, key)
        except PaymentError as exc:
            raise PaymentSetupError(f"the {which} key: {exc}") from None
    existing = await account(ctx)
    record: JSONObject = dict(existing or {"id": STRIPE, "prices": {}, "endpoints": {},
                                           "delegations": {}})
    record.update(secret_key=secret_key, restricted_key=restricted_key,
                  currency=currency.upper(), mode="test" if "_test_" in secret_key else "live")
    return await _save(ctx, record, existing)


def _params(record: Mapping[str, Any], endpoint: Mapping[str, Any], did: str) -> dict[str, Any]:
    return {"key": record["restricted_key"], "webhook_secret": endpoint["secret"],
            "prices": dict(record.get("prices") or {}), "site": did, "donations": True,
            "current": {tier: str(held["price"]) for tier, held in
                        (record.get("current") or {}).items()},
            "currency": record.get("currency") or "EUR"}


async def setup(ctx: Context, providers: Sequence[Mapping[str, Any]]) -> list[str]:
    """Bring the account and the providers' delegations up to date; what was done. Raises
    ``PaymentError`` when Stripe refuses (the next run tries again)."""
    record = await account(ctx)
    if record is None:
        return []
    existing, record = record, dict(record)
    did = identity.load(ctx.settings.data_dir).did
    stripe = processor(ctx)
    done: list[str] = []
    try:
        await _prices(stripe, str(record["secret_key"]), did, record,
                      await store.list_tiers(ctx), done)
    finally:  # what Stripe made is kept even when a later step fails
        if record != existing:
            existing = await _save(ctx, record, existing)
            record = dict(existing)
    endpoints: dict[str, Any] = dict(record.get("endpoints") or {})
    delegations: dict[str, Any] = dict(record.get("delegations") or {})
    for entry in providers:
        url, site = str(entry["url"]), entry.get("site")
        if not site:
            continue
        if url not in endpoints:
            hook = str(site).rstrip("/") + WEBHOOK_PATH
            endpoint_id, secret = await asyncio.to_thread(
                stripe.webhook_endpoint, record["secret_key"], did, hook)
            endpoints[url] = {"id": endpoint_id, "secret": secret, "url": hook}
            done.append(f"webhook endpoint for {url}")
        wanted = _params(record, endpoints[url], did)
        current = await _grant(ctx, delegations.get(url))
        fresh = current is not None and current.get("revoked") is None and (
            current.get("params") == wanted
            and int(current.get("expires") or 0) > ctx.clock() + RENEW_MS)
        if not fresh:
            if current is not None and current.get("revoked") is None:
                await grants.revoke(ctx, str(current["id"]))
            made = await grants.create_delegation(ctx, url, STRIPE_POWER, wanted,
                                                  expires_in=DELEGATION_MS)
            delegations[url] = made["id"]
            done.append(f"delegation for {url}")
    record.update(endpoints=endpoints, delegations=delegations)
    if record != {k: v for k, v in existing.items()}:
        await _save(ctx, record, existing)
    return done


async def _prices(stripe: StripeProcessor, key: str, did: str, record: dict[str, Any],
                  tiers: Sequence[Mapping[str, Any]], done: list[str]) -> None:
    """A Stripe price for each paid tier at its current price. A tier whose price changed
    gets a new one and the old is archived (nobody new can take it). Its subscribers keep
    paying the old price, which still gives the tier (``prices`` keeps every price ever made),
    unless the owner chose to move them (tier ``subscribers: move``): their subscriptions
    then change to the new price from their next renewal, without proration."""
    prices: dict[str, str] = dict(record.get("prices") or {})
    current: dict[str, Any] = dict(record.get("current") or {})
    moving: list[str] = list(record.get("moving") or [])

    def keep() -> None:
        record.update(prices=dict(prices), current=dict(current), moving=list(moving))

    for tier in tiers:
        tid = str(tier["id"])
        if not int(tier.get("amount") or 0):
            continue
        wanted = {"amount": int(tier["amount"]), "currency": str(tier["currency"]).upper(),
                  "interval": str(tier["interval"])}
        held = current.get(tid)
        older = [price for price, name in prices.items() if name == tid]
        if held is None and older:  # made before prices were remembered: Stripe knows
            found = await asyncio.to_thread(stripe.price, key, older[-1])
            held = {"price": older[-1], "amount": found.get("unit_amount"),
                    "currency": str(found.get("currency") or "").upper(),
                    "interval": (found.get("recurring") or {}).get("interval")}
        if held is not None and all(held.get(k) == v for k, v in wanted.items()):
            current[tid] = held
            continue
        price = await asyncio.to_thread(stripe.tier_price, key, did, tier)
        prices[price] = tid
        current[tid] = {"price": price, **wanted}
        done.append(f"price for tier {tid}")
        if held is not None:
            await asyncio.to_thread(stripe.archive_price, key, str(held["price"]))
            done.append(f"old price of tier {tid} archived")
            if tier.get("subscribers") == "move" and tid not in moving:
                moving.append(tid)
        keep()
    for tid in list(moving):
        new = str((current.get(tid) or {}).get("price") or "")
        moved = 0
        for old in [price for price, name in prices.items() if name == tid and price != new]:
            for sub, item in await asyncio.to_thread(stripe.subscriptions_on, key, old):
                await asyncio.to_thread(stripe.move_subscription, key, sub, item, new)
                moved += 1
        moving.remove(tid)
        done.append(f"{moved} subscriptions of tier {tid} moved to its new price")
        keep()
    keep()


async def _grant(ctx: Context, grant_id: Any) -> JSONObject | None:
    if not isinstance(grant_id, str):
        return None
    try:
        return await grants.get_grant(ctx, grant_id)
    except grants.GrantError:
        return None


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """On the home's event loop from the relay's worker thread, or on a loop of its own."""
    import anyio.from_thread

    try:
        return anyio.from_thread.run(work)
    except RuntimeError:
        return asyncio.run(work())


def stripe_event(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    """Apply one Stripe event a provider received: the home's own reading of it, with what
    Stripe says now. Idempotent: the member ends as Stripe's answer says, however often."""
    site = str(item.meta.get("site") or "")
    named = next((str(e["url"]) for e in _providers(ctx) if e.get("site") and
                  str(e["site"]).rstrip("/") == site), site)
    return _run(lambda: apply_event(ctx, item.body, named))


def _providers(ctx: Context) -> list[dict[str, Any]]:
    from homeport.sync import providers

    try:
        return providers.load(ctx.settings.data_dir)
    except providers.ProvidersError:
        return []


async def apply_event(ctx: Context, body: bytes, provider: str) -> dict[str, Any]:
    record = await account(ctx)
    if record is None:
        raise PaymentSetupError("no Stripe account is connected here (homeport payments stripe)")
    try:
        event = jsonio.loads_untrusted(body)
    except ValueError:
        raise PaymentSetupError("the event is not JSON") from None
    if not isinstance(event, Mapping):
        raise PaymentSetupError("the event is not a JSON object")
    did = identity.load(ctx.settings.data_dir).did
    offer = Offer(did, dict(record.get("prices") or {}))
    try:
        outcome = classify(event, offer)
    except PaymentError as exc:
        raise PaymentSetupError(str(exc)) from None
    stripe, key = processor(ctx), str(record["secret_key"])
    if outcome.kind == "donation" and outcome.donation is not None:
        return await _donation(ctx, stripe, key, did, outcome.donation, outcome.created,
                               provider)
    if outcome.kind == "refund":
        return await _refund(ctx, stripe, key, outcome.charge)
    if outcome.kind != "access":
        return {"outcome": outcome.kind, "reason": outcome.reason}
    # Stripe's answer now, not the event's copy: the home is the final word
    sub = await asyncio.to_thread(stripe.subscription, key,
                                  outcome.subscription or (outcome.access.subscription
                                                           if outcome.access else ""))
    access = subscription_access(sub, offer)
    if access is None:
        return {"outcome": "ignored", "reason": "not one of this site's prices"}
    email = outcome.email or await asyncio.to_thread(stripe.customer_email, key,
                                                     access.customer)
    if not email:
        raise PaymentSetupError("the customer has no email address")
    ref = {"processor": "stripe", "customer": access.customer,
           "subscription": access.subscription}
    member = await store.find_member(ctx, email)
    changes: dict[str, Any] = {"tier": access.tier, "status": "paid",
                               "paid_until": access.until}
    if member is None:
        await store.add_member(ctx, email, MemberFields(
            tier=access.tier, status="paid", paid_until=access.until,
            provider=provider or None, payments=(ref,)))
    else:
        payments = [p for p in member.get("payments") or [] if p != ref] + [ref]
        if member.get("status") == "comped":
            changes = {}  # a complimentary member stays so; the payment is only noted
        await store.update_member(ctx, email, {**changes, "payments": payments})
    return {"outcome": "access", "email": email, "tier": access.tier, "until": access.until}


async def _donation(ctx: Context, stripe: StripeProcessor, key: str, did: str,
                    seen: Donation, created: int, provider: str) -> dict[str, Any]:
    """Record a one-off donation as Stripe has it (paid, this site's), once."""
    if not seen.payment:
        raise PaymentSetupError("the donation names no payment")
    paid = await asyncio.to_thread(stripe.payment, key, seen.payment)
    meta = paid.get("metadata")
    if not isinstance(meta, Mapping) or meta.get(SITE) != did or meta.get(KIND) != DONATION:
        return {"outcome": "ignored", "reason": "not a donation to this site"}
    if paid.get("status") != "succeeded":
        return {"outcome": "ignored", "reason": "the payment did not go through"}
    try:
        kept, new = await donations.record(ctx, {
            "payment": seen.payment, "processor": "stripe", "amount": paid.get("amount"),
            "currency": paid.get("currency"), "email": seen.email,
            "customer": seen.customer or str(paid.get("customer") or ""),
            "provider": provider or None, "created": created or None})
    except MemberError as exc:
        raise PaymentSetupError(str(exc)) from None
    return {"outcome": "donation", "amount": kept["amount"], "currency": kept["currency"],
            "new": new}


async def _refund(ctx: Context, stripe: StripeProcessor, key: str, charge_id: str
                  ) -> dict[str, Any]:
    """A refund gives back a donation (it leaves the revenue). A refund of a subscription's
    payment changes nothing by itself: access follows the subscription, which the creator
    ends at once in Stripe when they refund (``docs/members.md``, "Refunds")."""
    if not charge_id:
        raise PaymentSetupError("the refund names no charge")
    charge = await asyncio.to_thread(stripe.charge, key, charge_id)
    refunded = charge.get("amount_refunded")
    payment = str(charge.get("payment_intent") or "")
    if not isinstance(refunded, int) or refunded <= 0 or not payment:
        return {"outcome": "ignored", "reason": "Stripe shows no refund"}
    try:
        found = await donations.mark_refunded(ctx, payment, refunded, ctx.clock())
    except MemberError as exc:
        raise PaymentSetupError(str(exc)) from None
    if found is None:
        return {"outcome": "ignored", "reason": "not a donation recorded here"}
    return {"outcome": "refund", "payment": payment, "refunded": refunded}


__all__ = ["COLLECTION_NAME", "PaymentSetupError", "account", "apply_event", "connect",
           "reconcile", "setup", "stripe_event"]


async def reconcile(ctx: Context) -> dict[str, int]:
    """Ask Stripe about every member's Stripe subscription and write what it says (period
    ends, cancellations, tiers): what the home does when it comes back after missing events,
    or at any time (``homeport payments reconcile``). How many members changed."""
    record = await account(ctx)
    if record is None:
        raise PaymentSetupError("no Stripe account is connected here (homeport payments stripe)")
    did = identity.load(ctx.settings.data_dir).did
    offer = Offer(did, dict(record.get("prices") or {}))
    stripe, key = processor(ctx), str(record["secret_key"])
    checked = changed = 0
    for member in await store.list_members(ctx):
        refs = [p for p in member.get("payments") or []
                if isinstance(p, Mapping) and p.get("processor") == "stripe"
                and p.get("subscription")]
        best = None
        for ref in refs:
            sub = await asyncio.to_thread(stripe.subscription, key, str(ref["subscription"]))
            checked += 1
            access = subscription_access(sub, offer)
            if access is not None and (best is None or access.until > best.until):
                best = access
        if best is None or member.get("status") == "comped":
            continue
        wanted = {"tier": best.tier, "status": "paid", "paid_until": best.until}
        if any(member.get(k) != v for k, v in wanted.items()):
            await store.update_member(ctx, str(member["email"]), wanted)
            changed += 1
    return {"subscriptions": checked, "changed": changed}


async def setup_and_push(ctx: Context) -> list[str]:
    """``setup`` for every enrolled provider, and the new grants pushed at once if it made
    any (the next publish would push them anyway)."""
    from homeport.sync import grants as grant_sync

    done = await setup(ctx, _providers(ctx))
    if any(step.startswith("delegation") for step in done):
        await grant_sync.sync(ctx)
    return done


async def before_snapshot(ctx: Context) -> None:
    """Before each publish's snapshot: a tier or a provider added since gets its price,
    endpoint and delegation, recorded in this publish's commit; does nothing without a
    connected account."""
    if await account(ctx) is not None:
        done = await setup_and_push(ctx)
        if done:
            log.info("payments: %s", ", ".join(done))
