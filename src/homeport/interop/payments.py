"""Payments at the provider, into the creator's own Stripe account (``docs/members.md``).

On each tenant's host, under the ``payments-stripe`` delegation the home gave this provider
(``members.payments.STRIPE_POWER``: a restricted key, this provider's own webhook secret, the
site's prices):

- ``POST /_homeport/payments/stripe`` takes Stripe's webhooks. The signature is checked with
  the library against this provider's secret (so another provider's events, or forged ones,
  are refused: 400) and must be recent; an event seen before changes nothing. Only events for
  this site's own prices count. A paid subscription lets the payer in at once (``ports.Payments``)
  and the event goes to the home's inbox, where the home asks Stripe again and decides.
- ``POST /_homeport/payments/checkout`` (form: ``tier``, or ``amount`` and ``currency`` for a
  donation; ``email``) answers 303 to Stripe Checkout.
- ``GET /_homeport/payments/done`` is where Checkout sends the payer back (the sign-in form).
- ``POST /_homeport/payments/portal`` takes a signed-in member to Stripe's Billing Portal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.ports import Delegation, Handler, InboxFull, PaidAccess, ProviderPorts
from homeport.members.entitlements import address_hash
from homeport.members.model import MemberError
from homeport.members.payments import (
    STRIPE_POWER,
    Checkout,
    Offer,
    Outcome,
    PaymentError,
    classify,
    subscription_access,
)
from homeport.members.stripe_processor import StripeProcessor
from homeport.web.bodies import BodyTooLarge, read_limited

log = logging.getLogger("homeport.payments")

WEBHOOK = "/payments/stripe"
CHECKOUT = "/payments/checkout"
DONE = "/payments/done"
PORTAL = "/payments/portal"
STRIPE_EVENT = "payments.stripe"
"""Inbox kind: one Stripe event for the home. meta: ``type``, ``event``, ``created`` (ms),
``outcome`` (what the provider made of it), ``site`` (the address it came to); body: the
event as Stripe sent it."""
MAX_EVENT = 256 * 1024
MAX_FORM = 4 * 1024
REPLAY_MS = 3 * 86_400_000
"""How long an event id is remembered: Stripe retries a delivery for up to three days."""
MIN_DONATION, MAX_DONATION = 100, 1_000_000


def member_hash(did: str, email: str) -> str:
    """How a provider keeps a payer's address: the keyed hash the site's entitlements use
    (``members/entitlements.py``), so a member signed in by passkey, whom the provider knows
    only by that hash, finds their payment as one signed in by link does. ``MemberError`` for
    what is not an address."""
    return address_hash(did, email)


def _refuse(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "errno": 107 if status == 400 else 999,
                         "error": error, "message": message}, status)


def _offer(tenant_did: str, delegation: Delegation) -> Offer:
    prices = delegation.params.get("prices")
    return Offer(tenant_did, dict(prices) if isinstance(prices, Mapping) else {},
                 bool(delegation.params.get("donations", True)))


def _processor(ports: ProviderPorts) -> StripeProcessor:
    return StripeProcessor(ports.stripe_api_base)


async def _body(request: Request, limit: int) -> bytes | None:
    try:
        return await read_limited(request, limit)
    except BodyTooLarge:
        return None


async def webhook(request: Request) -> Response:
    tenant = await tenant_of(request)
    ports = ports_of(request)
    found = ports.grants.delegation(tenant.name, STRIPE_POWER) if tenant else None
    if tenant is None or found is None or ports.payments is None:
        return _refuse(404, "not-found", "this site takes no payments here")
    body = await _body(request, MAX_EVENT)
    if body is None:
        return _refuse(413, "too-large", f"an event is at most {MAX_EVENT} bytes")
    secret = str(found.params.get("webhook_secret") or "")
    processor = _processor(ports)
    try:
        event = processor.verify(body, request.headers.get("stripe-signature", ""), secret)
        outcome = classify(event, _offer(tenant.did, found))
    except PaymentError as exc:
        return _refuse(400, "invalid-signature", str(exc))
    once = ports.once
    if once is not None and not once.first_use(f"stripe:{tenant.name}:{outcome.event}",
                                               ports.clock() + REPLAY_MS):
        return JSONResponse({"received": True, "duplicate": True})
    if outcome.kind == "ignored":
        return JSONResponse({"received": True, "ignored": outcome.reason})
    try:
        granted = await anyio.to_thread.run_sync(_grant, ports, tenant.name, tenant.did, found,
                                               outcome)
    except PaymentError as exc:
        log.warning("payment event %s for %s not applied: %s", outcome.event, tenant.name, exc)
        granted = None
    meta = {"type": event.get("type"), "event": outcome.event, "created": outcome.created,
            "outcome": outcome.kind, "site": _origin(request)}
    try:
        await anyio.to_thread.run_sync(lambda: ports.inbox.put(
            tenant.name, STRIPE_EVENT, meta, body, item_id=f"stripe-{outcome.event}"))
    except InboxFull:
        log.warning("inbox of %s is full: payment event %s kept only here", tenant.name,
                    outcome.event)
    answer: dict[str, Any] = {"received": True, "outcome": outcome.kind}
    if granted is not None:
        answer["tier"], answer["until"] = granted.tier, granted.until
    return JSONResponse(answer)


def _grant(ports: ProviderPorts, tenant: str, did: str, found: Delegation, outcome: Outcome
           ) -> PaidAccess | None:
    """Let a payer in at once: the subscription as Stripe has it now (read with the
    restricted key when the event did not carry it), for this site's prices only."""
    assert ports.payments is not None
    if outcome.kind != "access":
        return None
    key = str(found.params.get("key") or "")
    processor = _processor(ports)
    access = outcome.access
    if access is None:
        sub = processor.subscription(key, outcome.subscription)
        access = subscription_access(sub, _offer("", found))
        if access is None:
            return None
    known = ports.payments.by_subscription(tenant, access.subscription)
    email = outcome.email
    if not email and known is None:
        email = processor.customer_email(key, access.customer)
        if not email:
            raise PaymentError("the customer has no address")
    try:
        hashed = member_hash(did, email) if email else (known.email_hash if known else "")
    except MemberError as exc:
        raise PaymentError(f"the payer's address: {exc}") from None
    paid = PaidAccess(tenant, access.subscription, hashed, access.customer, access.tier,
                      access.until, outcome.created)
    return paid if ports.payments.record(paid) else None


def _origin(request: Request) -> str:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    return f"{proto if proto in ('http', 'https') else 'https'}://{request.headers['host']}"


async def checkout(request: Request) -> Response:
    if request.method != "POST":
        return JSONResponse({"error": "method-not-allowed", "message": "POST a form"}, 405,
                            {"Allow": "POST"})
    tenant = await tenant_of(request)
    ports = ports_of(request)
    found = ports.grants.delegation(tenant.name, STRIPE_POWER) if tenant else None
    if tenant is None or found is None:
        return _refuse(404, "not-found", "this site takes no payments here")
    body = await _body(request, MAX_FORM)
    if body is None:
        return _refuse(413, "too-large", f"the form is at most {MAX_FORM} bytes")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        wanted = _checkout(form, _offer(tenant.did, found), found, _origin(request))
        url = await anyio.to_thread.run_sync(
            _processor(ports).checkout_url, str(found.params.get("key") or ""), wanted)
    except PaymentError as exc:
        return _refuse(400, "invalid-parameters", str(exc))
    return RedirectResponse(url, 303)


def _checkout(form: Mapping[str, str], offer: Offer, found: Delegation, origin: str
              ) -> Checkout:
    email = form.get("email", "").strip()
    if email and ("@" not in email or len(email) > 320 or any(c.isspace() for c in email)):
        raise PaymentError("that is not an email address")
    back = form.get("back", "/")
    back = back if back.startswith("/") and not back.startswith("//") else "/"
    done = f"{origin}/_homeport{DONE}?next={quote(back, safe='/')}"
    cancel = origin + back
    tier = form.get("tier", "").strip()
    if tier:
        current = found.params.get("current")
        chosen = current.get(tier) if isinstance(current, Mapping) else None
        prices = [price for price, name in offer.prices.items() if name == tier]
        if isinstance(chosen, str) and offer.prices.get(chosen) == tier:
            prices = [chosen]  # the tier's price now (older ones are archived at Stripe)
        if not prices:
            raise PaymentError(f"{tier!r} is not a paid tier of this site")
        return Checkout(email, done, cancel, offer.site, price=prices[0], tier=tier)
    if not offer.donations:
        raise PaymentError("this site takes no donations")
    try:
        amount = int(Decimal(form.get("amount", "")) * 100)
    except (InvalidOperation, ValueError):
        raise PaymentError("give a tier, or an amount to donate") from None
    if not MIN_DONATION <= amount <= MAX_DONATION:
        raise PaymentError(f"a donation is between {MIN_DONATION // 100} and "
                           f"{MAX_DONATION // 100}")
    currency = (form.get("currency") or str(found.params.get("currency") or "")).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PaymentError("give the donation's currency (like EUR)")
    return Checkout(email, done, cancel, offer.site, amount=amount, currency=currency)


async def done(request: Request) -> Response:
    """Where Checkout sends the payer back: thanks, and the members' sign-in form (a link by
    mail: paying with an address does not prove it is yours, so no session is made here)."""
    from homeport.interop.members.signin import page, safe_next

    tenant = await tenant_of(request)
    if tenant is None:
        return _refuse(404, "not-found", "no site is served here")
    return page("Thank you", "Your payment went through. Sign in with the address you paid "
                "with to read.", form=True,
                next_path=safe_next(request.query_params.get("next", "/")))


async def portal(request: Request) -> Response:
    """A signed-in member to Stripe's Billing Portal, to change or cancel their subscription
    (their customer: the one this provider saw pay, else Stripe's for their address)."""
    from homeport.interop.members import tokens
    from homeport.interop.members.gate import HASHED
    from homeport.interop.members.signin import host_of, origin_of

    if request.method != "POST":
        return JSONResponse({"error": "method-not-allowed", "message": "POST the form"}, 405,
                            {"Allow": "POST"})
    tenant = await tenant_of(request)
    ports = ports_of(request)
    found = ports.grants.delegation(tenant.name, STRIPE_POWER) if tenant else None
    if tenant is None or found is None or ports.once is None or ports.payments is None:
        return _refuse(404, "not-found", "this site takes no payments here")
    claim = tokens.open_session(ports.once, request.cookies.get(tokens.COOKIE, ""),
                                host_of(request), ports.clock())
    if claim is None:
        return _refuse(401, "unauthorized", "sign in first (the link we mail you)")
    key = str(found.params.get("key") or "")
    stripe = _processor(ports)

    def customer() -> str:
        assert ports.payments is not None and tenant is not None
        who = claim.email
        hashed = who[len(HASHED):] if who.startswith(HASHED) else member_hash(tenant.did, who)
        paid = ports.payments.paid(tenant.name, hashed, ports.clock())
        if paid is not None or who.startswith(HASHED):
            return paid.customer if paid is not None else ""  # no address to ask Stripe about
        return stripe.customer_for_email(key, who)

    try:
        who = await anyio.to_thread.run_sync(customer)
        if not who:
            return _refuse(404, "not-found", "no subscription was paid with this address")
        url = await anyio.to_thread.run_sync(stripe.portal_url, key, who,
                                             origin_of(request) + "/")
    except PaymentError as exc:
        return _refuse(502, "processor-error", str(exc))
    return RedirectResponse(url, 303)


def provider_routes() -> list[BaseRoute]:
    return [
        Route(WEBHOOK, webhook, methods=["POST"]),
        Route(CHECKOUT, checkout, methods=["GET", "POST"]),
        Route(DONE, done, methods=["GET"]),
        Route(PORTAL, portal, methods=["GET", "POST"]),
    ]


def home_handlers() -> dict[str, Handler]:
    from homeport.interop.payments_home import stripe_event

    return {STRIPE_EVENT: stripe_event}


__all__ = ["CHECKOUT", "STRIPE_EVENT", "WEBHOOK", "home_handlers", "member_hash",
           "provider_routes"]
