"""Stripe, through the official ``stripe`` library: the ``PaymentProcessor`` the home and its
providers use, and what the home sets up in the creator's account (a product and price per
paid tier, a webhook endpoint per provider). ``api_base`` (setting ``stripe_api_base``) points
the library elsewhere than Stripe: the tests' local server."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import stripe

from homeport.members.payments import (
    DONATION,
    EVENTS,
    KIND,
    SITE,
    TIER,
    Checkout,
    PaymentError,
)

TOLERANCE = 300
"""Seconds: an event signed longer ago is refused (Stripe's own default), so a captured
delivery cannot be replayed later."""
DEFAULT_API_BASE = "https://api.stripe.com"
MAX_CLIENTS = 256
_CLIENTS: dict[tuple[str, str], stripe.StripeClient] = {}
_LOCK = threading.Lock()


def _plain(obj: Any) -> Any:
    """A ``StripeObject`` as plain JSON values."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return obj


class StripeProcessor:
    name = "stripe"

    def __init__(self, api_base: str = DEFAULT_API_BASE, timeout: float = 20.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def client(self, key: str) -> stripe.StripeClient:
        """One client per key and address, kept: making one costs about 45 ms, and a kept one
        reuses its connections."""
        found = _CLIENTS.get((self.api_base, key))
        if found is None:
            http = stripe.HTTPXClient(timeout=self.timeout, allow_sync_methods=True)
            found = stripe.StripeClient(key, base_addresses={"api": self.api_base},
                                        http_client=http, max_network_retries=1)
            with _LOCK:
                while len(_CLIENTS) >= MAX_CLIENTS:
                    _CLIENTS.pop(next(iter(_CLIENTS)))
                _CLIENTS[(self.api_base, key)] = found
        return found

    def _call(self, what: str, work: Any) -> Any:
        try:
            return _plain(work())
        except stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
            raise PaymentError(f"Stripe refused to {what}: {message}") from None

    # what providers and the home both do ------------------------------------------------

    def checkout_url(self, key: str, checkout: Checkout) -> str:
        metadata = {SITE: checkout.site}
        params: dict[str, Any] = {
            "success_url": checkout.success_url,
            "cancel_url": checkout.cancel_url,
            "metadata": metadata,
        }
        if checkout.email:
            params["customer_email"] = checkout.email
        if checkout.price:
            metadata[TIER] = checkout.tier
            params.update(mode="subscription",
                          line_items=[{"price": checkout.price, "quantity": 1}],
                          subscription_data={"metadata": dict(metadata)})
        else:
            metadata[KIND] = DONATION
            params.update(mode="payment", line_items=[{"quantity": 1, "price_data": {
                "currency": checkout.currency.lower(), "unit_amount": checkout.amount,
                "product_data": {"name": "Donation"}}}],
                payment_intent_data={"metadata": dict(metadata)})
        made = self._call("open a checkout", lambda: self.client(
            key).v1.checkout.sessions.create(params=params))  # type: ignore[arg-type]
        return str(made["url"])

    def portal_url(self, key: str, customer: str, return_url: str) -> str:
        made = self._call("open the billing portal",
                          lambda: self.client(key).v1.billing_portal.sessions.create(
                              params={"customer": customer, "return_url": return_url}))
        return str(made["url"])

    def verify(self, payload: bytes, signature: str, secret: str) -> Mapping[str, Any]:
        try:
            stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret,
                                                  TOLERANCE)
            event = stripe.Webhook.construct_event_without_verification(payload)
        except stripe.SignatureVerificationError as exc:
            raise PaymentError(f"the Stripe-Signature does not check out: {exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise PaymentError(f"not a Stripe event: {exc}") from None
        plain: Mapping[str, Any] = _plain(event)
        return plain

    def subscription(self, key: str, subscription_id: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self._call(
            "read the subscription",
            lambda: self.client(key).v1.subscriptions.retrieve(subscription_id))
        return found

    def customer_email(self, key: str, customer_id: str) -> str:
        found = self._call("read the customer",
                           lambda: self.client(key).v1.customers.retrieve(customer_id))
        return str(found.get("email") or "")

    def payment(self, key: str, payment_id: str) -> Mapping[str, Any]:
        """A payment (PaymentIntent) as Stripe has it now: a donation is recorded from this."""
        found: Mapping[str, Any] = self._call(
            "read the payment", lambda: self.client(key).v1.payment_intents.retrieve(payment_id))
        return found

    def charge(self, key: str, charge_id: str) -> Mapping[str, Any]:
        """A charge as Stripe has it now: how much of it was refunded."""
        found: Mapping[str, Any] = self._call(
            "read the charge", lambda: self.client(key).v1.charges.retrieve(charge_id))
        return found

    def customer_for_email(self, key: str, email: str) -> str:
        """The newest customer with this address, or ``""``."""
        found = self._call("find the customer", lambda: self.client(key).v1.customers.list(
            params={"email": email, "limit": 1}))
        rows = found.get("data") or []
        return str(rows[0]["id"]) if rows else ""

    # the home's set-up ------------------------------------------------------------------

    def check_key(self, key: str) -> None:
        """Raise ``PaymentError`` unless Stripe takes ``key`` (one cheap read)."""
        self._call("take this key", lambda: self.client(key).v1.customers.list(
            params={"limit": 1}))

    def tier_price(self, key: str, site: str, tier: Mapping[str, Any]) -> str:
        """A product and a recurring price for a paid tier; the price's id."""
        meta = {SITE: site, TIER: str(tier["id"])}
        client = self.client(key)
        product = self._call("create a product", lambda: client.v1.products.create(
            params={"name": str(tier.get("name") or tier["id"]), "metadata": meta}))
        price = self._call("create a price", lambda: client.v1.prices.create(params={
            "product": product["id"], "currency": str(tier["currency"]).lower(),
            "unit_amount": int(tier["amount"]), "recurring": {"interval": tier["interval"]},
            "metadata": meta}))
        return str(price["id"])

    def price(self, key: str, price_id: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self._call(
            "read the price", lambda: self.client(key).v1.prices.retrieve(price_id))
        return found

    def archive_price(self, key: str, price_id: str) -> None:
        """No new Checkout can use the price; subscriptions on it go on."""
        self._call("archive the price", lambda: self.client(key).v1.prices.update(
            price_id, params={"active": False}))

    def subscriptions_on(self, key: str, price_id: str) -> list[tuple[str, str]]:
        """The live subscriptions paying ``price_id``: (subscription, its item on that
        price), every page."""
        def read() -> list[tuple[str, str]]:
            found = self.client(key).v1.subscriptions.list(
                params={"price": price_id, "limit": 100})
            rows = []
            for sub in found.auto_paging_iter():
                if sub["status"] in ("canceled", "incomplete_expired"):
                    continue
                for item in sub["items"]["data"]:
                    if item["price"]["id"] == price_id:
                        rows.append((str(sub["id"]), str(item["id"])))
            return rows

        found: list[tuple[str, str]] = self._call("list the subscriptions", read)
        return found

    def move_subscription(self, key: str, subscription: str, item: str, price: str) -> None:
        """The subscription pays ``price`` from its next renewal (no proration now)."""
        self._call("change the subscription's price", lambda: self.client(
            key).v1.subscriptions.update(subscription, params={
                "items": [{"id": item, "price": price}], "proration_behavior": "none"}))

    def webhook_endpoint(self, key: str, site: str, url: str,
                         events: Sequence[str] = EVENTS) -> tuple[str, str]:
        """A webhook endpoint at ``url``: its id and its own signing secret."""
        made = self._call("create a webhook endpoint", lambda: self.client(
            key).v1.webhook_endpoints.create(params={
                "url": url, "enabled_events": list(events),  # type: ignore[arg-type]
                "metadata": {SITE: site}}))
        return str(made["id"]), str(made["secret"])


__all__ = ["DEFAULT_API_BASE", "TOLERANCE", "StripeProcessor"]
