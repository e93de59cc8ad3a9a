"""Payments into the creator's own accounts: the ``PaymentProcessor`` protocol and the rules
that say what a processor's event means for a member. Pure: no I/O.

The home and its providers read the same events with the same rules. A provider acts on them
at once (a payer reads at once, even with the home off); the home asks the processor again
when the event reaches it and its answer is the final word. Only this site's own prices count:
an event about any other product on the same account is ignored, and so is one for another
site (``homeport_site`` in the metadata Homeport writes on everything it creates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

STRIPE_POWER = "payments-stripe"
"""The delegation that lets one provider take Stripe's webhooks and open Checkout and Billing
Portal sessions for one tenant. params: ``key`` (a restricted key), ``webhook_secret`` (this
provider's endpoint's own), ``prices`` (price id → tier id), ``site`` (the home's identity),
``donations`` (whether one-off donations may be taken)."""
SITE = "homeport_site"
TIER = "homeport_tier"
KIND = "homeport_kind"
DONATION = "donation"
EVENTS = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "charge.refunded",
)
"""What a provider's webhook endpoint subscribes to."""
NO_ACCESS = ("incomplete", "incomplete_expired")
"""Subscription states that never gave access (the first payment did not go through)."""


class PaymentError(ValueError):
    """A payment request or event that cannot be taken: the message says why."""


@dataclass(frozen=True)
class Offer:
    """What a site sells through one processor account, as a provider's delegation names it."""

    site: str
    prices: Mapping[str, str]
    """Processor price id → tier id."""
    donations: bool = True


@dataclass(frozen=True)
class Access:
    """What a subscription gives its payer: a tier until a time."""

    subscription: str
    customer: str
    tier: str
    until: int
    """Milliseconds since the epoch: the end of the period paid for (0: none)."""
    renews: bool
    """False once cancelled or ended: access stops at ``until``."""
    status: str


@dataclass(frozen=True)
class Donation:
    payment: str
    customer: str
    email: str
    amount: int
    """Minor units (cents)."""
    currency: str


@dataclass(frozen=True)
class Outcome:
    """What one event asks for. ``kind``: ``access`` (a subscription to apply: ``access`` set,
    or only ``subscription`` when it must be fetched first), ``donation``, ``refund`` or
    ``ignored`` (``reason`` says why)."""

    kind: str
    event: str
    created: int
    """The event's creation, milliseconds (orders events about one subscription)."""
    email: str = ""
    customer: str = ""
    subscription: str = ""
    access: Access | None = None
    donation: Donation | None = None
    reason: str = ""
    payment: str = ""
    """A refund's payment (``pi_…``): which donation it gives back."""
    charge: str = ""
    """A refund's charge (``ch_…``): the home reads it again before believing it."""


def _id(value: Any) -> str:
    """An expandable field: the id whether Stripe sent the object or its id."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return value if isinstance(value, str) else ""


def _ms(seconds: Any) -> int:
    ok = isinstance(seconds, int) and not isinstance(seconds, bool) and 0 <= seconds < 2**42
    return seconds * 1000 if ok else 0


def subscription_access(sub: Mapping[str, Any], offer: Offer) -> Access | None:
    """The access a subscription object gives, or None when none of its items is one of this
    site's prices. A cancelled or ended subscription keeps its tier to the end of the period
    paid for; one whose first payment failed gives nothing."""
    items = sub.get("items")
    rows = items.get("data") if isinstance(items, Mapping) else None
    if not isinstance(rows, list):
        return None
    for item in rows:
        if not isinstance(item, Mapping):
            continue
        tier = offer.prices.get(_id(item.get("price")))
        if tier is None:
            continue
        status = str(sub.get("status") or "")
        until = 0 if status in NO_ACCESS else _ms(item.get("current_period_end"))
        ended = _ms(sub.get("ended_at")) if status == "canceled" else 0
        if ended:
            until = min(until, ended)  # ended at once (with a refund, say): access ends then
        renews = status in ("active", "trialing", "past_due") and not sub.get(
            "cancel_at_period_end")
        return Access(_id(sub.get("id")), _id(sub.get("customer")), tier, until, renews,
                      status)
    return None


def classify(event: Mapping[str, Any], offer: Offer) -> Outcome:
    """What ``event`` (a verified processor event, as JSON) means for this site."""
    kind = str(event.get("type") or "")
    event_id = str(event.get("id") or "")
    created = _ms(event.get("created"))
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not event_id or not isinstance(obj, Mapping):
        raise PaymentError("not an event (no id or no data.object)")

    def ignored(reason: str) -> Outcome:
        return Outcome("ignored", event_id, created, reason=reason)

    if kind.startswith("customer.subscription."):
        access = subscription_access(obj, offer)
        if access is None:
            return ignored("not one of this site's prices")
        return Outcome("access", event_id, created, customer=access.customer,
                       subscription=access.subscription, access=access)
    metadata = obj.get("metadata")
    ours = isinstance(metadata, Mapping) and metadata.get(SITE) == offer.site
    if kind == "checkout.session.completed":
        if not ours:
            return ignored("a checkout of another site or product")
        if obj.get("payment_status") not in ("paid", "no_payment_required"):
            return ignored("not paid yet")
        details = obj.get("customer_details")
        email = str((details or {}).get("email") or obj.get("customer_email") or "")
        customer = _id(obj.get("customer"))
        if obj.get("mode") == "subscription":
            return Outcome("access", event_id, created, email=email, customer=customer,
                           subscription=_id(obj.get("subscription")))
        donating = isinstance(metadata, Mapping) and metadata.get(KIND) == DONATION
        if obj.get("mode") == "payment" and donating and offer.donations:
            donation = Donation(_id(obj.get("payment_intent")), customer, email,
                                int(obj.get("amount_total") or 0), str(obj.get("currency")))
            return Outcome("donation", event_id, created, email=email, customer=customer,
                           donation=donation)
        return ignored("a checkout that is neither a tier nor a donation")
    if kind == "charge.refunded":
        if not ours:
            return ignored("a refund of another site's payment")
        return Outcome("refund", event_id, created, customer=_id(obj.get("customer")),
                       payment=_id(obj.get("payment_intent")), charge=_id(obj.get("id")))
    return ignored(f"{kind or 'an event'} does not concern memberships")


@dataclass(frozen=True)
class Checkout:
    """A Checkout the public asked for: a tier's price, or a donation's amount."""

    email: str
    success_url: str
    cancel_url: str
    site: str
    price: str = ""
    tier: str = ""
    amount: int = 0
    currency: str = ""


class PaymentProcessor(Protocol):
    """What Homeport needs of a payment processor: a hosted page to pay at, a hosted page to
    manage a subscription at, verified events and the processor's current word on a
    subscription. ``key`` is the key the caller holds: the home's secret key, or the
    restricted key delegated to a provider."""

    name: str

    def checkout_url(self, key: str, checkout: Checkout) -> str:
        """Where to send the payer (raises ``PaymentError``)."""
        ...

    def portal_url(self, key: str, customer: str, return_url: str) -> str: ...

    def verify(self, payload: bytes, signature: str, secret: str) -> Mapping[str, Any]:
        """The event ``payload`` carries, once its signature checks out against ``secret``
        and is recent; ``PaymentError`` otherwise."""
        ...

    def subscription(self, key: str, subscription_id: str) -> Mapping[str, Any]: ...

    def customer_email(self, key: str, customer_id: str) -> str: ...


__all__ = [
    "DONATION",
    "EVENTS",
    "KIND",
    "SITE",
    "STRIPE_POWER",
    "TIER",
    "Access",
    "Checkout",
    "Donation",
    "Offer",
    "Outcome",
    "PaymentError",
    "PaymentProcessor",
    "classify",
    "subscription_access",
]
