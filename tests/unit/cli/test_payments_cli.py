"""``homeport payments stripe|status`` against the local Stripe, on both engines: connecting
makes the paid tiers' prices, the status never shows a key, bad keys are one clear line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.services import identity
from homeport.testing.stripe_server import FakeStripe, running

pytestmark = pytest.mark.usefixtures("no_homeport_env")
runner = CliRunner()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with running() as state:
        yield state


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         fake: FakeStripe) -> Path:
    if request.param == "postgresql":
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", request.getfixturevalue("fresh_postgres_url"))
    monkeypatch.setenv("HOMEPORT_STRIPE_API_BASE", fake.base)
    identity.create(tmp_path / "home")
    return tmp_path / "home"


def invoke(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data", str(home)])
    return result.exit_code, result.stdout, result.stderr


def test_connect_and_status(home: Path, fake: FakeStripe) -> None:
    assert invoke(home, "tiers", "add", "Gold", "--price", "5", "--currency", "EUR")[0] == 0
    code, out, _ = invoke(home, "payments", "status")
    assert code == 0 and "No payment account" in out
    rk = fake.restricted_key()
    code, out, err = invoke(home, "payments", "stripe", "--secret-key", fake.secret_key,
                            "--restricted-key", rk)
    assert code == 0, err
    assert "price for tier gold" in out
    code, out, _ = invoke(home, "payments", "status", "--json")
    shown = json.loads(out)
    assert shown["connected"] and list(shown["prices"].values()) == ["gold"]
    assert shown["mode"] == "test"
    assert fake.secret_key not in out and rk not in out
    code, out, _ = invoke(home, "providers", "delegations", "list", "--json")
    assert code == 0 and rk not in out and "whsec_" not in out


def test_tiers_price(home: Path, fake: FakeStripe) -> None:
    """``tiers price``: the tier's new price, and at Stripe a new price with the old one
    archived; a free tier's price or a bad price is one clear line and changes nothing."""
    assert invoke(home, "tiers", "add", "Gold", "--price", "5", "--currency", "EUR")[0] == 0
    assert invoke(home, "tiers", "add", "Friends")[0] == 0
    assert invoke(home, "payments", "stripe", "--secret-key", fake.secret_key,
                  "--restricted-key", fake.restricted_key())[0] == 0
    first = json.loads(invoke(home, "payments", "status", "--json")[1])["prices"]
    code, out, err = invoke(home, "tiers", "price", "gold", "--price", "6.50", "--interval",
                            "year", "--move-subscribers")
    assert code == 0, err
    assert "Tier gold is now 6.50 EUR / year." in out and "old price of tier gold archived" in out
    prices = json.loads(invoke(home, "payments", "status", "--json")[1])["prices"]
    [new] = set(prices) - set(first)
    assert fake.objects[new]["unit_amount"] == 650 and prices[new] == "gold"
    assert all(fake.objects[old]["active"] is False for old in first)
    listed = invoke(home, "payments", "status")[1]
    assert f"tier gold: price {new}\n" in listed
    assert all(f"price {old} (archived: its subscribers keep it)" in listed for old in first)
    tiers = json.loads(invoke(home, "tiers", "list", "--json")[1])
    assert [(t["id"], t["amount"], t.get("subscribers")) for t in tiers] == [
        ("friends", 0, None), ("gold", 650, "move")]
    for args in (("friends", "--price", "3"), ("gold", "--price", "-1")):
        code, _, err = invoke(home, "tiers", "price", *args)
        assert code == 1 and len(err.splitlines()) == 1, err
    assert json.loads(invoke(home, "tiers", "list", "--json")[1]) == tiers


def test_bad_keys_are_one_line(home: Path) -> None:
    code, _, err = invoke(home, "payments", "stripe", "--secret-key", "pk_test_x",
                          "--restricted-key", "rk_test_x")
    assert code == 1 and err.startswith("homeport: the secret key starts with sk_")
    assert len(err.splitlines()) == 1
    # a key Stripe does not know: refused by Stripe, said in one line, nothing kept
    code, _, err = invoke(home, "tiers", "add", "Gold", "--price", "5", "--currency", "EUR")
    code, _, err = invoke(home, "payments", "stripe", "--secret-key", "sk_test_unknown",
                          "--restricted-key", "rk_test_x")
    assert code == 1 and "Stripe refused" in err and len(err.splitlines()) == 1
    assert "No payment account" in invoke(home, "payments", "status")[1]


def test_newsletter_commands(home: Path) -> None:
    code, out, _ = invoke(home, "newsletter", "status")
    assert code == 0 and "off" in out
    code, _, err = invoke(home, "newsletter", "from", "https://nowhere.example")
    assert code == 1 and "is not one of this home's providers" in err
    assert len(err.splitlines()) == 1
    code, out, _ = invoke(home, "newsletter", "off")
    assert code == 0 and "off" in out
