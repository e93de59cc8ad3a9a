"""Members (issue G): a members-only page served to a signed-in member against a public page of
the same site, same provider, same run (target: at least half the public page's requests per
second), and paid sign-ups per second (Stripe's ``checkout.session.completed`` webhooks, each
checked, the subscription read back from Stripe, the payer let in and the event queued for the
home).

One ``homeport provider serve`` (SQLite, ``--workers 1``), a home made with the CLI (a paid
tier, a comped member, a public and a members-only article, published), a loopback SMTP sink for
the sign-in link and the local Stripe of ``homeport.testing.stripe_server``. Pages are fetched
by ``--clients`` threads with keep-alive connections for ``--seconds`` each, public first,
then members-only, then public again (the two public runs bracket the other).

    .venv/bin/python bench/members.py [--clients 8] [--seconds 5] [--signups 200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from homeport.testing.live import free_port, stop_process
from homeport.testing.smtp import SmtpSink
from homeport.testing.stripe_server import FakeStripe, running, sign

BASE = "example.test"
HOST = f"alice.{BASE}"
SECRET = "Only-for-gold-members sentence"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**env, **FAST, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw",
            "HOMEPORT_LOG_LEVEL": "warning", **extra}


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "homeport", *args, "--data", str(data)],
                          capture_output=True, timeout=120, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _provider(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / "provider.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data",
             str(root / "provider"), "--port", str(port), "--base-domain", BASE,
             "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/_homeport/v1/", timeout=2)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError("the provider did not start") from None
            time.sleep(0.05)


def _sign_in(url: str, sink: SmtpSink, email: str) -> str:
    asked = httpx.post(url + "/_homeport/members/signin", headers={"Host": HOST},
                       data={"email": email, "next": "/"}, timeout=10)
    if asked.status_code != 200:
        raise RuntimeError(f"sign-in refused: {asked.status_code} {asked.text[:200]}")
    body = sink.wait_for(email).get_content()
    found = re.search(r"http://\S+/_homeport/members/link\?token=\S+", body)
    if not found:
        raise RuntimeError("no sign-in link in the mail")
    parts = urlsplit(found.group(0))
    answer = httpx.get(f"{url}{parts.path}?{parts.query}", headers={"Host": HOST}, timeout=10)
    cookie = answer.headers.get("set-cookie", "")
    if answer.status_code != 303 or "=" not in cookie:
        raise RuntimeError(f"the link did not sign in: {answer.status_code}")
    return cookie.split(";", 1)[0]


def _rate(url: str, path: str, headers: dict[str, str], clients: int, seconds: float,
          must: str | None) -> float:
    """Requests per second over ``clients`` threads for ``seconds``; every answer is checked."""
    stop = time.monotonic() + seconds
    counts = [0] * clients
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, headers={"Host": HOST, **headers}, timeout=10) as c:
            while time.monotonic() < stop:
                answer = c.get(path)
                if answer.status_code != 200 or (must is not None and must not in answer.text):
                    errors.append(f"{answer.status_code}")
                    return
                counts[n] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    if errors:
        raise RuntimeError(f"{path}: a bad answer ({errors[0]})")
    return sum(counts) / (time.monotonic() - started)


def _signups(url: str, fake: FakeStripe, secret: str, did: str, price: str, count: int,
             clients: int) -> float:
    """Paid sign-ups a second: ``count`` checkouts paid at Stripe, their webhooks sent to the
    provider from ``clients`` threads (each read back from Stripe by the provider)."""
    bodies = []
    for n in range(count):
        session = fake.new(
            "cs", "checkout.session", mode="subscription", status="open",
            payment_status="unpaid", success_url="http://x/", cancel_url=None, customer=None,
            customer_email=f"payer{n}@example.org", customer_details=None, amount_total=500,
            currency="eur", subscription=None, payment_intent=None,
            metadata={"homeport_site": did, "homeport_tier": "gold"},
            line_items=[{"price": price}], subscription_data={})
        fake.pay(session["id"])
        event = next(d.event for d in reversed(fake.deliveries)
                     if d.event["type"] == "checkout.session.completed")
        bodies.append(json.dumps(event).encode())
    fake.deliveries.clear()  # sent by hand below, concurrently

    def send(body: bytes) -> int:
        header = sign(body, secret, int(time.time()))
        return httpx.post(url + "/_homeport/payments/stripe", content=body, timeout=30,
                          headers={"Host": HOST, "Stripe-Signature": header}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(send, bodies))
    elapsed = time.monotonic() - started
    if any(code != 200 for code in codes):
        raise RuntimeError(f"webhooks refused: {sorted(set(codes))}")
    return count / elapsed


def run(clients: int = 8, seconds: float = 5.0, signups: int = 200) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="homeport-bench-members-") as scratch, \
            SmtpSink() as sink, running() as fake:
        root = Path(scratch)
        env = _env({"HOMEPORT_SMTP_URL": sink.url, "HOMEPORT_STRIPE_API_BASE": fake.base})
        proc, url = _provider(root, env)
        try:
            home = root / "home"
            did = json.loads(_cli(home, env, "init", "--json"))["did"]
            _cli(home, env, "tiers", "add", "Gold", "--price", "5", "--currency", "EUR")
            _cli(home, env, "members", "add", "ann@example.org", "--tier", "gold", "--comp")
            for name, visibility, text in (("open", "public", "An essay for everyone."),
                                           ("gold", "gold", SECRET)):
                essay = root / f"{name}.md"
                essay.write_text(f"---\ntitle: {name.title()} essay\n---\nThe opening.\n\n"
                                 + (text + " ") * 200 + "\n")
                _cli(home, env, "add", "article", str(essay), "--visibility", visibility)
            code = json.loads(_cli(root / "provider", env, "provider", "invite", "--json"))
            _cli(home, env, "providers", "add", url, code["code"], "--name", "alice")
            fake.resolve[f"{HOST}:{urlsplit(url).port}"] = url
            fake.resolve[HOST] = url
            _cli(home, env, "payments", "stripe", "--secret-key", fake.secret_key,
                 "--restricted-key", fake.restricted_key())
            _cli(home, env, "publish")
            status = json.loads(_cli(home, env, "payments", "status", "--json"))
            price = next(iter(status["prices"]))
            endpoint = next(e for e in fake.of_kind("webhook_endpoint"))
            cookie = _sign_in(url, sink, "ann@example.org")
            public = "/articles/open-essay/"
            gated = "/articles/gold-essay/"
            first = _rate(url, public, {}, clients, seconds, "An essay for everyone.")
            members = _rate(url, gated, {"Cookie": cookie}, clients, seconds, SECRET)
            second = _rate(url, public, {}, clients, seconds, "An essay for everyone.")
            paid = _signups(url, fake, endpoint["secret"], did, price, signups, clients)
        finally:
            stop_process(proc)
    public_rps = (first + second) / 2
    return {
        "public page, requests/s": round(public_rps),
        "members-only page (signed in), requests/s": round(members),
        "members-only / public": round(members / public_rps, 2),
        "target": ">= 0.5",
        "paid sign-ups (webhooks)/s": round(paid, 1),
        "clients": clients,
        "seconds per run": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--signups", type=int, default=200)
    args = parser.parse_args()
    figures = run(args.clients, args.seconds, args.signups)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
