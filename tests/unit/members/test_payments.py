"""What a Stripe event means for a site (``members.payments.classify``): only this site's
prices and checkouts count; cancelled subscriptions keep their period; failed first payments
give nothing."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.members.payments import Offer, PaymentError, classify, subscription_access

SITE = "did:key:zSite"
OFFER = Offer(SITE, {"price_gold": "gold"})


def sub(price: str = "price_gold", status: str = "active", cancel: bool = False,
        end: int = 2_000_000_000) -> dict[str, Any]:
    return {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
            "cancel_at_period_end": cancel, "items": {"data": [
                {"price": {"id": price}, "current_period_end": end}]}}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "created": 1_700_000_000, "data": {"object": obj}}


def test_subscriptions_to_this_sites_prices_only() -> None:
    found = classify(event("customer.subscription.updated", sub()), OFFER)
    assert found.kind == "access" and found.access is not None
    assert (found.access.tier, found.access.until, found.access.renews) == (
        "gold", 2_000_000_000_000, True)
    assert found.created == 1_700_000_000_000
    other = classify(event("customer.subscription.updated", sub("price_other")), OFFER)
    assert other.kind == "ignored"


def test_cancelled_keeps_the_period_and_a_failed_start_gives_nothing() -> None:
    cancelled = subscription_access(sub(cancel=True), OFFER)
    assert cancelled is not None and cancelled.until == 2_000_000_000_000
    assert not cancelled.renews
    ended = subscription_access(sub(status="canceled"), OFFER)
    assert ended is not None and ended.until == 2_000_000_000_000 and not ended.renews
    failed = subscription_access(sub(status="incomplete_expired"), OFFER)
    assert failed is not None and failed.until == 0


def test_checkouts_of_this_site() -> None:
    session = {"mode": "subscription", "payment_status": "paid", "customer": "cus_1",
               "subscription": "sub_1", "customer_details": {"email": "a@example.com"},
               "metadata": {"homeport_site": SITE}}
    found = classify(event("checkout.session.completed", session), OFFER)
    assert (found.kind, found.subscription, found.email) == ("access", "sub_1",
                                                             "a@example.com")
    assert found.access is None  # the subscription is read from Stripe before anything
    elsewhere = {**session, "metadata": {"homeport_site": "did:key:zOther"}}
    assert classify(event("checkout.session.completed", elsewhere), OFFER).kind == "ignored"
    unpaid = {**session, "payment_status": "unpaid"}
    assert classify(event("checkout.session.completed", unpaid), OFFER).kind == "ignored"
    gift = {"mode": "payment", "payment_status": "paid", "customer": "cus_1",
            "payment_intent": "pi_1", "amount_total": 750, "currency": "eur",
            "metadata": {"homeport_site": SITE, "homeport_kind": "donation"}}
    donation = classify(event("checkout.session.completed", gift), OFFER)
    assert donation.kind == "donation" and donation.donation is not None
    assert donation.donation.amount == 750
    no_gifts = Offer(SITE, OFFER.prices, donations=False)
    assert classify(event("checkout.session.completed", gift), no_gifts).kind == "ignored"


def test_not_an_event() -> None:
    with pytest.raises(PaymentError):
        classify({"type": "x"}, OFFER)
    assert classify(event("invoice.created", {"id": "in_1"}), OFFER).kind == "ignored"
