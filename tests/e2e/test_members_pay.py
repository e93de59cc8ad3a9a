"""Issue G's done-when in Chromium: a visitor joins a paid tier at provider 1 (Join on the
teaser, pays at the local Stripe, signs in with the link mailed to them) and reads the
members-only entry; the creator adds provider 2 and the same member signs in there and reads it
too; the creator leaves provider 1 and the member keeps access at provider 2. Real processes:
two ``provider serve``, ``homeport serve`` (relay and auto-publish), the local Stripe and an
SMTP sink, all on loopback (``*.localhost`` names, which Chromium resolves to loopback)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.testing.live import start_home
from homeport.testing.smtp import SmtpSink
from homeport.testing.stripe_server import running

from .provider_support import Provider
from .repo_support import cli_env, init, ok

SECRET = "Quetzal-paid-members-only-sentence"
MEMBER = "reader@example.org"
ESSAY = "/articles/gold-essay/"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with SmtpSink() as sink, running() as fake:
        env = {"HOMEPORT_SMTP_URL": sink.url, "HOMEPORT_STRIPE_API_BASE": fake.base}
        providers = [Provider(tmp_path / f"p{n}", tmp_path / f"p{n}.log", env=env,
                              args=("--workers", "1"), base=f"p{n}.localhost")
                     for n in (1, 2)]
        for provider in providers:
            provider.start()
            fake.resolve[f"alice.{provider.base}"] = provider.url
        try:
            yield {"sink": sink, "fake": fake, "providers": providers, "env": env}
        finally:
            for provider in providers:
                provider.stop()


def wait(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def sign_in(page: Any, sink: SmtpSink, count: int) -> None:
    """From a page with the sign-in form: ask for the link, open it."""
    page.fill("input[name=email]", MEMBER)
    page.click("form.members-signin button, form[action='/_homeport/members/signin'] button")
    body = sink.wait_for(MEMBER, count, timeout=20).get_content()
    link = re.search(r"http://\S+/_homeport/members/link\?token=\S+", body)
    assert link, body
    page.goto(link.group(0))


@pytest.mark.timeout(300)  # three servers, a local Stripe and a browser walk: 144 s at load 15
def test_pay_read_at_two_providers_leave_one(browser: Any, tmp_path: Path,
                                             world: dict[str, Any]) -> None:
    sink, fake = world["sink"], world["fake"]
    p1, p2 = world["providers"]
    env = {**cli_env(), **world["env"]}
    home = tmp_path / "home"
    init(home, env)
    ok("tiers", "add", "Gold", "--price", "5", "--currency", "EUR", data=home, env=env)
    essay = tmp_path / "essay.md"
    essay.write_text(f"---\ntitle: Gold essay\n---\nThe opening line.\n\n{SECRET}\n")
    ok("add", "article", str(essay), "--visibility", "gold", data=home, env=env)
    ok("providers", "add", p1.url, p1.invite(), "--name", "alice", data=home, env=env)
    ok("payments", "stripe", "--secret-key", fake.secret_key, "--restricted-key",
       fake.restricted_key(), data=home, env=env)
    ok("publish", data=home, env=env)
    served = start_home(home, env, log=tmp_path / "serve.log")
    context = browser.new_context()
    page = context.new_page()
    try:
        site1 = f"http://alice.{p1.base}:{p1.port}"
        page.goto(site1 + ESSAY)
        assert "The opening line." in page.content() and SECRET not in page.content()
        page.click("form.members-join button")
        assert page.url.startswith(fake.base + "/pay/")  # the (local) Stripe Checkout
        page.fill("input[name=email]", MEMBER)
        page.click("button[type=submit]")
        assert page.url.startswith(site1 + "/_homeport/payments/done")
        sign_in(page, sink, 1)
        assert page.url == site1 + ESSAY
        assert SECRET in page.content()  # let in at once by the provider that saw the payment

        # the home applies the payment from its inbox: the member is there, paid
        def paid() -> bool:
            rows = json.loads(ok("members", "list", "--json", data=home, env=env))
            return any(m["email"] == MEMBER and m["status"] == "paid" for m in rows)

        wait("the member at home", paid)
        ok("providers", "add", p2.url, p2.invite(), "--name", "alice", data=home, env=env)
        ok("publish", data=home, env=env)
        site2 = f"http://alice.{p2.base}:{p2.port}"
        page.goto(site2 + ESSAY)
        assert SECRET not in page.content()  # a session is its host's only
        sign_in(page, sink, 2)
        assert page.url == site2 + ESSAY and SECRET in page.content()

        ok("providers", "remove", p1.url, data=home, env=env)
        ok("publish", data=home, env=env)
        page.reload()
        assert SECRET in page.content()
        rows = json.loads(ok("members", "list", "--json", data=home, env=env))
        assert [m["tier"] for m in rows if m["email"] == MEMBER] == ["gold"]
    finally:
        context.close()
        served.stop()
