"""The Members page's payment settings and donations (in-process home, local Stripe): keys are
checked with Stripe before they are kept, a refusal says why and keeps nothing, the mode (test
or live) is shown and no key is ever written back into a page; a paid tier's new price makes
a new Stripe price (the old archived); one-off donations show per month, refunds taken off."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.interop import payments_home
from homeport.members import donations
from homeport.settings import Settings
from homeport.testing.stripe_server import FakeStripe, running


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running() as state:
        yield state


@pytest.fixture
def settings(tmp_path: Path, fake: FakeStripe) -> Settings:
    return Settings(data_dir=tmp_path / "home", storage_url="memory://", argon2_memory_kib=64,
                    argon2_time_cost=1, admin_password="first-run-password",
                    auto_publish=False, stripe_api_base=fake.base)


def ms(day: str) -> int:
    return int(dt.datetime.fromisoformat(day + "T12:00:00+00:00").timestamp() * 1000)


def test_payment_keys_and_donations(client: Any, gui: Any, fake: FakeStripe) -> None:
    gui.wizard(client)
    ctx = client.app.state.ctx
    page = client.get("/admin/members")
    assert "No payment account is connected" in page.text and "No donation yet." in page.text
    csrf = gui.csrf_of(page.text)
    for name, price in (("Gold", "5"), ("Friends", "")):
        added = client.post("/admin/members/tiers", data={
            "csrf": csrf, "name": name, "price": price, "currency": "EUR" if price else "",
            "interval": "month"})
        assert added.status_code == 200, added.text
    restricted = fake.restricted_key()
    wrong = "sk_test_" + "0" * 24
    for keys, words in (((wrong, restricted), "Invalid API Key"),
                        ((fake.secret_key, "rk_test_" + "1" * 24), "the restricted key"),
                        ((fake.secret_key, "rk_live_" + "1" * 24), "both keys are test"),
                        (("pk_test_x", restricted), "starts with sk_"),
                        ((fake.secret_key, fake.secret_key), "starts with rk_")):
        answer = client.post("/admin/members/payments", data={
            "csrf": csrf, "secret_key": keys[0], "restricted_key": keys[1], "currency": "EUR"})
        assert answer.status_code == 400 and words in answer.text, (keys, answer.text)
        assert keys[0] not in answer.text and keys[1] not in answer.text
        assert asyncio.run(payments_home.account(ctx)) is None
    assert client.post("/admin/members/payments", data={
        "secret_key": fake.secret_key, "restricted_key": restricted}).status_code in (400, 403)
    assert asyncio.run(payments_home.account(ctx)) is None  # no CSRF token: nothing kept

    done = client.post("/admin/members/payments", data={
        "csrf": csrf, "secret_key": fake.secret_key, "restricted_key": restricted,
        "currency": "usd"})
    assert done.status_code == 200 and "Stripe connected in test mode." in done.text, done.text
    assert "connected in <strong>test mode</strong>; donations in USD" in done.text
    assert "Replace the keys" in done.text and "Made at Stripe: price for tier gold" in done.text
    assert fake.secret_key not in done.text and restricted not in done.text
    kept = asyncio.run(payments_home.account(ctx))
    assert kept is not None and kept["secret_key"] == fake.secret_key
    assert kept["restricted_key"] == restricted and kept["mode"] == "test"

    # a new price for Gold: a new Stripe price, the old one archived
    first = kept["current"]["gold"]["price"]
    changed = client.post("/admin/members/tiers/price", data={
        "csrf": csrf, "tier": "gold", "price": "8"})
    assert changed.status_code == 200 and "Tier gold is now 8.00 EUR / month." in changed.text
    assert "old price of tier gold archived" in changed.text and "8.00 EUR / month" in changed.text
    now = asyncio.run(payments_home.account(ctx))
    assert now is not None and now["current"]["gold"]["price"] != first
    assert fake.objects[first]["active"] is False
    assert fake.objects[now["current"]["gold"]["price"]]["unit_amount"] == 800
    for tier, price, words in (("friends", "3", "free tier stays free"),
                               ("gold", "abc", "not a price"), ("silver", "3", "no tier")):
        refused = client.post("/admin/members/tiers/price", data={
            "csrf": csrf, "tier": tier, "price": price})
        assert refused.status_code == 400 and words in refused.text, refused.text

    for payment, amount, currency, day in (("pi_test_a", 750, "eur", "2026-03-02"),
                                           ("pi_test_b", 1000, "eur", "2026-03-20"),
                                           ("pi_test_c", 500, "usd", "2026-04-01")):
        asyncio.run(donations.record(ctx, {"payment": payment, "processor": "stripe",
                                           "amount": amount, "currency": currency,
                                           "email": "g@example.com", "created": ms(day)}))
    asyncio.run(donations.mark_refunded(ctx, "pi_test_b", 400, ms("2026-03-21")))
    shown = client.get("/admin/members").text
    assert 'id="donations-table"' in shown
    assert "<tr><td>2026-04</td><td>1</td><td>5.00 USD</td></tr>" in shown
    assert "<tr><td>2026-03</td><td>2</td><td>13.50 EUR</td></tr>" in shown
    assert fake.secret_key not in shown and restricted not in shown
