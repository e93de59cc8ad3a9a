"""The home's side of payments, against the local Stripe: connecting the account makes a price
per paid tier, a webhook endpoint and a ``payments-stripe`` delegation per provider (renewed
when the prices change); an event a provider received is applied with Stripe's current answer
(member paid until the period's end; a cancelled one keeps the period; a comped member stays
comped; another site's product changes nothing). SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from homeport import jsonio
from homeport.interop import payments_home
from homeport.interop.ports import InboxItem
from homeport.interop.registry import home_handlers
from homeport.members import store
from homeport.members.model import MemberFields
from homeport.members.payments import STRIPE_POWER, Checkout, PaymentError
from homeport.members.stripe_processor import StripeProcessor
from homeport.services import grants, identity
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.testing.stripe_server import FakeStripe, running

pytestmark = pytest.mark.anyio
PROVIDERS = [{"url": "https://p1.example", "site": "https://ada.p1.example"},
             {"url": "https://p2.example", "site": "https://ada.p2.example"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running() as state:
        yield state


@pytest.fixture
async def ctx(store_url: str, tmp_path: Path, fake: FakeStripe) -> AsyncIterator[Context]:
    settings = Settings(data_dir=tmp_path / "data", storage_url=store_url,
                        stripe_api_base=fake.base)
    identity.create(settings.data_dir)
    db = open_record_store(store_url)
    await db.initialize()
    context = Context(settings, db, FsBlobStore(tmp_path / "blobs"))
    await store.add_tier(context, "Gold", price="5", currency="EUR", interval="month")
    await store.add_tier(context, "Readers")  # free: no price at Stripe
    await payments_home.connect(context, fake.secret_key, fake.restricted_key())
    yield context
    await db.close()


def delivered(fake: FakeStripe, kind: str) -> bytes:
    return next(d.body for d in reversed(fake.deliveries) if d.event["type"] == kind)


async def checkout_paid(ctx: Context, fake: FakeStripe, email: str, tier: str = "gold") -> str:
    record = await payments_home.account(ctx)
    assert record is not None
    price = next(p for p, t in record["prices"].items() if t == tier)
    did = identity.load(ctx.settings.data_dir).did
    url = StripeProcessor(fake.base).checkout_url(record["restricted_key"], Checkout(
        email, "http://x/done", "http://x/", did, price=price, tier=tier))
    assert httpx.post(url).status_code in (200, 303)
    return url.rsplit("/", 1)[1]


async def test_setup_makes_prices_endpoints_and_delegations(ctx: Context, fake: FakeStripe
                                                            ) -> None:
    done = await payments_home.setup(ctx, PROVIDERS)
    assert done[0] == "price for tier gold" and len(done) == 5
    record = await payments_home.account(ctx)
    assert record is not None and list(record["prices"].values()) == ["gold"]
    hooks = {e["url"] for e in fake.of_kind("webhook_endpoint")}
    assert {"https://ada.p1.example/_homeport/payments/stripe",
            "https://ada.p2.example/_homeport/payments/stripe"} <= hooks
    made = [g for g in await grants.list_grants(ctx) if g["power"] == STRIPE_POWER]
    assert {g["audience"] for g in made} == {p["url"] for p in PROVIDERS}
    one, two = (g["params"] for g in made)
    assert one["webhook_secret"] != two["webhook_secret"]  # each provider its own secret
    assert one["key"].startswith("rk_test_") and "sk_" not in jsonio.dumps_text(one)
    # nothing changed: nothing done; a new paid tier: a price and both delegations renewed
    assert await payments_home.setup(ctx, PROVIDERS) == []
    await store.add_tier(ctx, "Silver", price="3", currency="EUR", interval="year")
    again = await payments_home.setup(ctx, PROVIDERS)
    assert again == ["price for tier silver", "delegation for https://p1.example",
                     "delegation for https://p2.example"]
    states = sorted(grants.state(g, ctx.clock()) for g in await grants.list_grants(ctx)
                    if g["power"] == STRIPE_POWER)
    assert states == ["active", "active", "revoked", "revoked"]


async def test_an_event_makes_a_paid_member_with_stripes_answer(ctx: Context, fake: FakeStripe
                                                                 ) -> None:
    await payments_home.setup(ctx, PROVIDERS)
    session = await checkout_paid(ctx, fake, "Reader@Example.com")
    body = delivered(fake, "checkout.session.completed")
    handler = home_handlers()["payments.stripe"]
    item = InboxItem("stripe-evt", "payments.stripe", {"site": "https://ada.p1.example"},
                     body, 0)
    result = await payments_home.apply_event(ctx, body, "https://p1.example")
    assert result["outcome"] == "access" and result["tier"] == "gold"
    member = await store.find_member(ctx, "reader@example.com")
    assert member is not None
    sub = fake.objects[fake.objects[session]["subscription"]]
    end = sub["items"]["data"][0]["current_period_end"] * 1000
    assert (member["tier"], member["status"], member["paid_until"]) == ("gold", "paid", end)
    assert member["provider"] == "https://p1.example"
    assert member["payments"] == [{"processor": "stripe", "customer": sub["customer"],
                                   "subscription": sub["id"]}]
    assert handler is payments_home.stripe_event and item.kind == "payments.stripe"
    # applying it again changes nothing
    await payments_home.apply_event(ctx, body, "https://p1.example")
    again = await store.find_member(ctx, "reader@example.com")
    assert again is not None and again["payments"] == member["payments"]
    # cancelled at Stripe: the home's reading keeps the period already paid for
    httpx.post(f"{fake.base}/_test/subscriptions/{sub['id']}/cancel")
    await payments_home.apply_event(ctx, delivered(fake, "customer.subscription.updated"), "")
    kept = await store.find_member(ctx, "reader@example.com")
    assert kept is not None and kept["paid_until"] == end and kept["status"] == "paid"


async def test_comped_members_and_other_products(ctx: Context, fake: FakeStripe) -> None:
    await payments_home.setup(ctx, PROVIDERS)
    await store.add_member(ctx, "friend@example.com", MemberFields(tier="gold",
                                                                   status="comped"))
    await checkout_paid(ctx, fake, "friend@example.com")
    await payments_home.apply_event(ctx, delivered(fake, "checkout.session.completed"), "")
    friend = await store.find_member(ctx, "friend@example.com")
    assert friend is not None and friend["status"] == "comped" and friend["payments"]
    # an event about a product that is not this site's: ignored, nobody added
    other = {"id": "evt_x", "type": "customer.subscription.created", "created": 1,
             "data": {"object": {"id": "sub_x", "customer": "cus_x", "status": "active",
                                 "items": {"data": [{"price": {"id": "price_other"},
                                                     "current_period_end": 2**31}]}}}}
    result = await payments_home.apply_event(ctx, jsonio.dumps(other), "")
    assert result["outcome"] == "ignored"
    assert [m["email"] for m in await store.list_members(ctx)] == ["friend@example.com"]


async def test_bad_input(ctx: Context) -> None:
    from homeport.core.errors import HomeportError

    for body in (b"not json", b"[]", b'{"type": "x"}'):
        with pytest.raises(HomeportError):
            await payments_home.apply_event(ctx, body, "")
    with pytest.raises(HomeportError):
        await payments_home.connect(ctx, "pk_live_x", "rk_x")
    with pytest.raises(HomeportError):
        await payments_home.connect(ctx, "sk_test_x", "sk_test_y")




async def test_a_publish_sets_up_what_is_new_before_its_snapshot(ctx: Context) -> None:
    """A tier added later gets its price at the next publish, without a command."""
    await store.add_tier(ctx, "Bronze", price="2", currency="EUR", interval="month")
    await payments_home.before_snapshot(ctx)
    record = await payments_home.account(ctx)
    assert record is not None and sorted(record["prices"].values()) == ["bronze", "gold"]


async def test_reconcile_takes_stripes_word(ctx: Context, fake: FakeStripe) -> None:
    """Events missed while the home was away (a renewal): reconciling asks Stripe."""
    await payments_home.setup(ctx, PROVIDERS)
    session = await checkout_paid(ctx, fake, "renew@example.com")
    await payments_home.apply_event(ctx, delivered(fake, "checkout.session.completed"), "")
    sub_id = fake.objects[session]["subscription"]
    httpx.post(f"{fake.base}/_test/subscriptions/{sub_id}/renew")
    end = fake.objects[sub_id]["items"]["data"][0]["current_period_end"] * 1000
    before = await store.find_member(ctx, "renew@example.com")
    assert before is not None and before["paid_until"] < end
    done = await payments_home.reconcile(ctx)
    assert done["changed"] == 1 and done["subscriptions"] >= 1
    after = await store.find_member(ctx, "renew@example.com")
    assert after is not None and after["paid_until"] == end
    assert (await payments_home.reconcile(ctx))["changed"] == 0


async def test_teasers_offer_to_join_paid_tiers(ctx: Context, tmp_path: Path) -> None:
    """With an account connected, a paid tier's teaser has a Join button that opens Checkout
    at the provider (the free tier's has none)."""
    from homeport.content import sites
    from homeport.members.publishing import offers
    from homeport.render.build import build_site

    assert await offers(ctx) == {"gold": "Gold, 5.00 EUR a month"}
    await sites.create_site(ctx, "blog", "Blog")
    await sites.add_entry(ctx, "blog", "article", {"title": "Gold essay", "body": "Open.\n\nX",
                                                   "visibility": "gold"})
    await sites.add_entry(ctx, "blog", "article", {"title": "Readers essay", "body": "Hi.\n\nY",
                                                   "visibility": "readers"})
    out = tmp_path / "live"
    await build_site(ctx, "blog", out_dir=out, base_url="https://a.example/", live=True)
    teaser = (out / "articles/gold-essay/index.html").read_text()
    assert 'action="/_homeport/payments/checkout"' in teaser
    assert 'name="tier" value="gold"' in teaser and "Join: Gold, 5.00 EUR a month" in teaser
    assert 'name="back" value="/articles/gold-essay/"' in teaser
    free = (out / "articles/readers-essay/index.html").read_text()
    assert "/_homeport/payments/checkout" not in free


async def donate(ctx: Context, fake: FakeStripe, email: str, amount: int) -> str:
    """A donation paid at the local Stripe: its payment's id."""
    record = await payments_home.account(ctx)
    assert record is not None
    did = identity.load(ctx.settings.data_dir).did
    url = StripeProcessor(fake.base).checkout_url(record["restricted_key"], Checkout(
        email, "http://x/done", "http://x/", did, amount=amount, currency="EUR"))
    assert httpx.post(url).status_code in (200, 303)
    return str(fake.objects[url.rsplit("/", 1)[1]]["payment_intent"])


async def test_donations_are_recorded_once_and_refunds_taken_off(ctx: Context, fake: FakeStripe
                                                                 ) -> None:
    """A one-off donation becomes one private record (Stripe's amount, the provider it came
    through); the same event again, or through another provider, adds nothing; a refund
    marks it; a donation Stripe does not know is refused and writes nothing."""
    from homeport.members import donations

    await payments_home.setup(ctx, PROVIDERS)
    payment = await donate(ctx, fake, "giver@example.com", 750)
    body = delivered(fake, "checkout.session.completed")
    result = await payments_home.apply_event(ctx, body, "https://p1.example")
    assert result == {"outcome": "donation", "amount": 750, "currency": "EUR", "new": True}
    again = await payments_home.apply_event(ctx, body, "https://p2.example")
    assert again["new"] is False
    [gift] = await donations.list_donations(ctx)
    assert (gift["payment"], gift["amount"], gift["currency"], gift["email"],
            gift["provider"], gift["refunded_amount"]) == (
        payment, 750, "EUR", "giver@example.com", "https://p1.example", 0)
    assert gift["id"] == "d-" + payment
    assert await store.list_members(ctx) == []  # a donation makes nobody a member

    httpx.post(f"{fake.base}/_test/payment_intents/{payment}/refund")
    refunded = await payments_home.apply_event(ctx, delivered(fake, "charge.refunded"), "")
    assert refunded == {"outcome": "refund", "payment": payment, "refunded": 750}
    [gift] = await donations.list_donations(ctx)
    assert gift["refunded_amount"] == 750 and isinstance(gift["refunded"], int)

    forged = jsonio.loads(body)
    forged["id"] = "evt_forged"
    forged["data"]["object"]["payment_intent"] = "pi_test_madeup"
    with pytest.raises(PaymentError):
        await payments_home.apply_event(ctx, jsonio.dumps(forged), "")
    assert len(await donations.list_donations(ctx)) == 1


async def test_a_subscription_ended_at_once_ends_access_then(ctx: Context, fake: FakeStripe
                                                            ) -> None:
    """Refund semantics: the creator refunds and cancels at once in Stripe; the member's paid
    time ends when the subscription ended, not at the end of the period."""
    from homeport.members.model import entitled_tier

    await payments_home.setup(ctx, PROVIDERS)
    session = await checkout_paid(ctx, fake, "refunded@example.com")
    await payments_home.apply_event(ctx, delivered(fake, "checkout.session.completed"), "")
    sub_id = fake.objects[session]["subscription"]
    httpx.post(f"{fake.base}/_test/subscriptions/{sub_id}/delete")
    await payments_home.apply_event(ctx, delivered(fake, "customer.subscription.deleted"), "")
    member = await store.find_member(ctx, "refunded@example.com")
    assert member is not None
    assert member["paid_until"] == fake.objects[sub_id]["ended_at"] * 1000
    assert entitled_tier(member, ctx.clock() + 1000) == ""  # still a member, not of gold


async def test_a_new_price_for_a_tier(ctx: Context, fake: FakeStripe) -> None:
    """A tier's price changed: a new Stripe price, the old one archived, both still the
    tier's (its subscriber keeps paying the old one and keeps the tier); Checkout at a
    provider takes the new one; moving the subscribers, when the owner asks, changes their
    subscriptions to the newest price."""
    from homeport.interop.payments import _checkout
    from homeport.interop.ports import Delegation
    from homeport.members.model import MemberError
    from homeport.members.payments import Offer

    await payments_home.setup(ctx, PROVIDERS)
    session = await checkout_paid(ctx, fake, "early@example.com")
    await payments_home.apply_event(ctx, delivered(fake, "checkout.session.completed"), "")
    record = await payments_home.account(ctx)
    assert record is not None
    first = record["current"]["gold"]["price"]
    sub_id = fake.objects[session]["subscription"]

    tier = await store.reprice_tier(ctx, "gold", price="7")
    assert (tier["amount"], tier["currency"], tier["interval"], tier["subscribers"]) == (
        700, "EUR", "month", "keep")
    done = await payments_home.setup(ctx, PROVIDERS)
    assert done == ["price for tier gold", "old price of tier gold archived",
                    "delegation for https://p1.example", "delegation for https://p2.example"]
    record = await payments_home.account(ctx)
    assert record is not None
    second = record["current"]["gold"]["price"]
    assert second != first and record["prices"] == {first: "gold", second: "gold"}
    assert fake.objects[first]["active"] is False and fake.objects[second]["unit_amount"] == 700
    assert fake.objects[sub_id]["items"]["data"][0]["price"]["id"] == first  # kept
    params = next(g["params"] for g in await grants.list_grants(ctx)
                  if g["power"] == STRIPE_POWER and g.get("revoked") is None)
    assert params["current"] == {"gold": second} and params["prices"][first] == "gold"
    found = Delegation("g", "alice", STRIPE_POWER, params)
    offer = Offer(params["site"], params["prices"])
    wanted = _checkout({"tier": "gold"}, offer, found, "https://ada.p1.example")
    assert wanted.price == second
    assert await payments_home.setup(ctx, PROVIDERS) == []  # nothing new: nothing done

    # the owner moves the subscribers this time
    await store.reprice_tier(ctx, "gold", price="9", interval="year", move_subscribers=True)
    done = await payments_home.setup(ctx, PROVIDERS)
    assert "1 subscriptions of tier gold moved to its new price" in done
    record = await payments_home.account(ctx)
    assert record is not None and record["moving"] == []
    third = record["current"]["gold"]["price"]
    assert fake.objects[sub_id]["items"]["data"][0]["price"]["id"] == third
    assert fake.objects[third]["recurring"]["interval"] == "year"
    await payments_home.apply_event(ctx, delivered(fake, "customer.subscription.updated"), "")
    member = await store.find_member(ctx, "early@example.com")
    assert member is not None and (member["tier"], member["status"]) == ("gold", "paid")

    for tier_id, price in (("readers", "3"), ("gold", "0"), ("gold", "x"), ("nope", "3")):
        with pytest.raises(MemberError):
            await store.reprice_tier(ctx, tier_id, price=price)
