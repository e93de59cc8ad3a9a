"""Payments at the provider through the local Stripe (``homeport.testing.stripe_server``):
Checkout opened with the delegated restricted key, webhooks verified with this provider's own
secret, the payer let in at once, the event queued for the home; forged, stale, replayed and
other products' events grant nothing. Both engines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from homeport.crypto.delegations import sign_delegation
from homeport.interop.members.gate import HASHED, member_tier
from homeport.interop.payments import STRIPE_EVENT, member_hash
from homeport.interop.ports import PaidAccess, Payments
from homeport.members.payments import STRIPE_POWER
from homeport.members.stripe_processor import StripeProcessor
from homeport.provider.members import GRACE, ProviderMembers
from homeport.sync.auth import origin
from homeport.testing.stripe_server import FakeStripe, running, sign
from tests.provider.conftest import BASE, SITE_V1, World

HOST = f"alice.{BASE}"
HOOK = "/_homeport/payments/stripe"
DAY = 86_400_000
MEMBER = "Reader@Example.com"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running() as state:
        yield state




@pytest.fixture
def shop(fake: FakeStripe, monkeypatch: pytest.MonkeyPatch, engine: str,
         request: pytest.FixtureRequest
         ) -> dict[str, Any]:
    """Alice enrolled and published, a paid tier ``gold`` in the account, an endpoint for
    this provider and the delegation that hands it the restricted key and the secret."""
    monkeypatch.setenv("HOMEPORT_STRIPE_API_BASE", fake.base)
    world: World = request.getfixturevalue("world")
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    assert home.publish(world.client, home.snapshot()).status_code == 200
    stripe = StripeProcessor(fake.base)
    tier = {"id": "gold", "name": "Gold", "amount": 500, "currency": "EUR", "interval": "month"}
    price = stripe.tier_price(fake.secret_key, home.did, tier)
    endpoint, secret = stripe.webhook_endpoint(fake.secret_key, home.did, f"http://{HOST}{HOOK}")
    fake.resolve[HOST] = str(world.client.base_url)
    params = {"key": fake.restricted_key(), "webhook_secret": secret,
              "prices": {price: "gold"}, "site": home.did, "donations": True,
              "currency": "EUR"}
    aud = origin(str(world.client.base_url))
    doc = sign_delegation(home.key, home.did, aud, STRIPE_POWER, params,
                          issued=now(), expires=now() + DAY)
    body = {"issued": now(), "delegations": [doc], "revoked": []}
    assert home.request(world.client, "POST", "/delegations", body).status_code == 200
    yield {"world": world, "home": home, "price": price, "secret": secret,
           "endpoint": endpoint}
    # this test's endpoint must not receive the next test's events
    fake.objects.pop(endpoint, None)


def hashed(shop: dict[str, Any], email: str) -> str:
    """How this provider keys a payer of Alice's: the hash her entitlements use."""
    return member_hash(shop["home"].did, email)


def now() -> int:
    return int(time.time() * 1000)


def payments(world: World) -> Payments:
    found = world.app.server.config.app.state.ports.payments
    assert found is not None
    return found  # type: ignore[no-any-return]


def inbox_kinds(world: World) -> list[str]:
    inbox = world.app.server.config.app.state.ports.inbox
    return [w.kind for w in inbox.waiting("alice", 100, 10**7)]


def checkout(world: World, **form: str) -> httpx.Response:
    return world.client.post("/_homeport/payments/checkout", data=form,
                             headers={"Host": HOST}, follow_redirects=False)


def pay(world: World, fake: FakeStripe, email: str = MEMBER) -> str:
    """A visitor picks Gold at this provider and pays at the (local) Stripe; the session."""
    answer = checkout(world, tier="gold", email=email)
    assert answer.status_code == 303, answer.text
    url = answer.headers["location"]
    assert url.startswith(fake.base + "/pay/cs_test_")
    paid = httpx.post(url, follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["location"].startswith(f"http://{HOST}/_homeport/payments/done")
    return url.rsplit("/", 1)[1]


def test_paying_lets_the_member_in_at_once_and_tells_the_home(
    shop: dict[str, Any], fake: FakeStripe
) -> None:
    world = shop["world"]
    before = len(fake.deliveries)
    session = pay(world, fake)
    sent = fake.deliveries[before:]
    assert {d.event["type"] for d in sent} == {"customer.subscription.created",
                                                "checkout.session.completed"}
    assert all(d.status == 200 for d in sent), [(d.status, d.error) for d in sent]
    granted = payments(world).paid("alice", hashed(shop, MEMBER), now())
    assert granted is not None and granted.tier == "gold"
    sub = fake.objects[fake.objects[session]["subscription"]]
    assert granted.until == sub["items"]["data"][0]["current_period_end"] * 1000
    assert granted.until > now() + 20 * DAY
    assert inbox_kinds(world).count(STRIPE_EVENT) == 2
    # signing in here finds the tier before the home has published anything about it
    members = world.app.server.config.app.state.ports.members
    assert members.entitlement("alice", MEMBER.lower()) == "gold"
    assert members.entitlement("alice", "stranger@example.com") is None
    # so does a member signed in by passkey, whom the provider knows by the hash alone
    ports = world.app.server.config.app.state.ports
    assert member_tier(ports, "alice", HASHED + hashed(shop, MEMBER)) == "gold"
    assert member_tier(ports, "alice", HASHED + hashed(shop, "stranger@example.com")) is None
    # a publish well after the payment carries the home's word, which is final (here: the
    # home has not made them a member, say a refund it saw that the provider did not)
    later = ProviderMembers(members.site, now, payments=payments(world),
                            published=lambda tenant: granted.event_created + GRACE + 1,
                            did_of=lambda tenant: shop["home"].did)
    assert later.entitlement("alice", MEMBER) is None
    assert later.entitlement_of("alice", hashed(shop, MEMBER)) is None
    # the thank-you page is served on the site's host
    assert world.get(HOST, "/_homeport/payments/done?session=" + session).status_code == 200

    # a cancellation keeps access to the end of the period paid for
    assert httpx.post(f"{fake.base}/_test/subscriptions/{sub['id']}/cancel").status_code == 200
    kept = payments(world).paid("alice", hashed(shop, MEMBER), now())
    assert kept is not None and kept.until == granted.until
    assert payments(world).paid("alice", hashed(shop, MEMBER), granted.until + 1) is None


def test_forged_stale_and_replayed_events_grant_nothing(
    shop: dict[str, Any], fake: FakeStripe
) -> None:
    world = shop["world"]
    before = len(fake.deliveries)
    pay(world, fake, "first@example.com")
    n, genuine = next((n, d) for n, d in enumerate(fake.deliveries) if n >= before
                      and d.event["type"] == "checkout.session.completed")
    queued = len(inbox_kinds(world))

    def post(body: bytes, header: str | None) -> httpx.Response:
        headers = {"Host": HOST, "Content-Type": "application/json"}
        if header is not None:
            headers["Stripe-Signature"] = header
        return world.client.post(HOOK, content=body, headers=headers)

    forged = genuine.body.replace(b"first@example.com", b"thief@example.com")
    assert forged != genuine.body
    assert post(forged, genuine.header).status_code == 400  # body changed, old signature
    assert post(forged, None).status_code == 400  # unsigned
    other = sign(forged, "whsec_another_providers_secret", int(time.time()))
    assert post(forged, other).status_code == 400  # signed for another endpoint
    stale = sign(forged, shop["secret"], int(time.time()) - 3600)
    assert post(forged, stale).status_code == 400  # signed an hour ago
    assert payments(world).paid("alice", hashed(shop, "thief@example.com"), now()) is None
    # the same delivery again (a replay within the tolerance): nothing new
    again = httpx.post(f"{fake.base}/_test/deliveries/{n}/resend").json()
    assert again["status"] == 200
    assert len(inbox_kinds(world)) == queued
    # not JSON, too large: 4xx
    assert post(b"x" * (300 * 1024), other).status_code == 413


def test_other_products_on_the_account_are_ignored(
    shop: dict[str, Any], fake: FakeStripe
) -> None:
    """A subscription to a product that is not this site's (another site, another business
    on the same Stripe account) grants nothing, even signed by Stripe for this endpoint."""
    world, home = shop["world"], shop["home"]
    stripe = StripeProcessor(fake.base)
    stranger = {"id": "x", "name": "Other", "amount": 900, "currency": "EUR",
                "interval": "month"}
    price = stripe.tier_price(fake.secret_key, "did:key:zOther", stranger)
    session = fake.new("cs", "checkout.session", mode="subscription", status="open",
                       payment_status="unpaid", success_url="http://x/", cancel_url=None,
                       customer=None, customer_email="other@example.com",
                       customer_details=None, amount_total=900, currency="eur",
                       subscription=None, payment_intent=None,
                       metadata={"homeport_site": "did:key:zOther"},
                       line_items=[{"price": price}], subscription_data={})
    before = len(fake.deliveries)
    fake.pay(session["id"])
    fake.deliver()
    assert all(d.status == 200 for d in fake.deliveries[before:])
    assert payments(world).paid("alice", hashed(shop, "other@example.com"), now()) is None
    assert STRIPE_EVENT not in inbox_kinds(world)
    # even with this site's name in the metadata, a price not of this site counts for nothing
    session2 = dict(session, id="cs_test_forged_meta", status="open",
                    metadata={"homeport_site": home.did})
    fake.objects[session2["id"]] = session2
    fake.pay(session2["id"])
    fake.deliver()
    assert payments(world).paid("alice", hashed(shop, "other@example.com"), now()) is None


def test_events_out_of_order_keep_the_latest(shop: dict[str, Any]) -> None:
    port = payments(shop["world"])
    late = PaidAccess("alice", "sub_1", hashed(shop, MEMBER), "cus_1", "gold", now() + 60 * DAY,
                      2_000)
    early = PaidAccess("alice", "sub_1", hashed(shop, MEMBER), "cus_1", "gold", now() + 30 * DAY,
                       1_000)
    assert port.record(late)
    assert not port.record(early)
    found = port.by_subscription("alice", "sub_1")
    assert found is not None and found.until == late.until


def test_checkout_bad_input(shop: dict[str, Any]) -> None:
    world = shop["world"]
    assert checkout(world, tier="platinum").status_code == 400
    assert checkout(world, tier="gold", email="not an address").status_code == 400
    assert checkout(world, amount="0.10").status_code == 400
    assert checkout(world, amount="lots").status_code == 400
    assert checkout(world).status_code == 400
    donation = checkout(world, amount="7.50", email=MEMBER)
    assert donation.status_code == 303
    assert world.client.get("/_homeport/payments/checkout",
                            headers={"Host": HOST}).status_code == 405
    # a tenant without the delegation takes no payments
    world.enrolled("bob")
    bob = world.client.post("/_homeport/payments/checkout", data={"tier": "gold"},
                            headers={"Host": f"bob.{BASE}"})
    assert bob.status_code == 404
    assert world.client.post(HOOK, content=b"{}", headers={"Host": f"bob.{BASE}"}
                             ).status_code == 404


def test_done_page_and_the_billing_portal(shop: dict[str, Any], fake: FakeStripe) -> None:
    """Back from Checkout: thanks and the sign-in form (no session from a payment alone); a
    signed-in payer reaches Stripe's Billing Portal for their own customer; nobody else."""
    from homeport.interop.members import tokens

    world = shop["world"]
    pay(world, fake)
    done = world.get(HOST, "/_homeport/payments/done?next=/posts/hello/")
    assert done.status_code == 200 and "Sign in" in done.text
    assert "value='/posts/hello/'" in done.text and "set-cookie" not in done.headers
    portal = "/_homeport/payments/portal"
    assert world.client.post(portal, headers={"Host": HOST}).status_code == 401
    once = world.app.server.config.app.state.ports.once
    session = tokens.make_session(once, HOST, MEMBER.lower(), now())
    cookie = {"Host": HOST, "Cookie": f"{tokens.COOKIE}={session}"}
    answer = world.client.post(portal, headers=cookie)
    assert answer.status_code == 303 and answer.headers["location"].startswith(
        fake.base + "/portal/bps_test_")
    customer = fake.objects[answer.headers["location"].rsplit("/", 1)[1]]["customer"]
    assert fake.objects[customer]["email"] == MEMBER
    keyed = tokens.make_session(once, HOST, HASHED + hashed(shop, MEMBER), now())
    by_passkey = world.client.post(portal, headers={
        "Host": HOST, "Cookie": f"{tokens.COOKIE}={keyed}"})
    assert by_passkey.status_code == 303
    assert fake.objects[by_passkey.headers["location"].rsplit("/", 1)[1]]["customer"] == customer
    stranger = tokens.make_session(once, HOST, "nobody@example.com", now())
    refused = world.client.post(portal, headers={
        "Host": HOST, "Cookie": f"{tokens.COOKIE}={stranger}"})
    assert refused.status_code == 404
