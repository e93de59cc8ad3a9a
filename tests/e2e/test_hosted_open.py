"""Open sign-up for hosted homes (``hosted_signup = open``, issue J item 6) at a real
``homeport provider serve`` with a loopback SMTP sink, on SQLite and PostgreSQL: no invite code,
the email address proved by a code mailed to it and typed beside the three words; wrong codes,
bad addresses and too many mails refused with nothing written. Then the same provider restarted
with two workers: the hosted home starts with the provider, before anyone asks for it, in one
worker that owns it."""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.testing.live import free_port
from homeport.testing.smtp import SmtpSink

from .provider_support import Provider
from .test_hosted import ANSWERS, BASE, HOSTED_ENV, PASSWORD, Signup, _hosted, _one

CODE = re.compile(r"Your code is (\d{6})")


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink
) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("open")
    args: tuple[str, ...] = ("--workers", "1")
    if request.param == "postgresql":
        server = request.getfixturevalue("_postgres_server")
        args += ("--database", server.create_database(f"open_{free_port()}"))
    env = {**HOSTED_ENV, "HOMEPORT_HOSTED_SIGNUP": "open", "HOMEPORT_SMTP_URL": sink.url}
    found = Provider(folder / "provider", folder / "provider.log", env=env, args=args, base=BASE)
    found.start()
    try:
        yield found
    finally:
        found.stop()


def mailed_code(sink: SmtpSink, address: str, count: int) -> str:
    message = sink.wait_for(address, count)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return _one(CODE, body.get_content())


def confirm(signup: Signup, page: httpx.Response, code: str) -> httpx.Response:
    positions = [int(n) for n in re.findall(r'name="word(\d+)"', page.text)]
    words = signup.phrase.split()
    return signup.client.post("/signup/check", data={
        "answers": _one(ANSWERS, page.text), "mailcode": code,
        **{f"word{n}": words[n - 1] for n in positions}})


def test_open_signup_proves_the_address_by_a_mailed_code(
    provider: Provider, sink: SmtpSink
) -> None:
    erin = f"erin.{provider.port}@example.org"  # the sink is shared by both engines' runs
    signup = Signup.start(provider)
    first = httpx.get(provider.url + "/signup", timeout=60).text  # another browser's page
    assert 'name="email"' in first and 'name="code"' not in first  # no invite asked
    bad = signup.form(email="not an address", address="erin")
    assert bad.status_code == 400 and "email address" in bad.text
    assert sink.to("not an address") == []

    check = signup.form(email=erin, address="erin")
    assert check.status_code == 200, check.text
    assert 'name="mailcode"' in check.text
    code = mailed_code(sink, erin, 1)
    wrong = confirm(signup, check, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 400 and "not the code mailed" in wrong.text
    assert _hosted(provider) == []  # nothing before the code and the words are right
    done = confirm(signup, check, code)
    assert done.status_code == 303, done.text
    assert f"erin.{BASE}:{provider.port}/admin/welcome?ticket=" in done.headers["location"]
    assert "erin" in _hosted(provider)
    tenants = httpx.get(f"{provider.url}/_homeport/admin/", auth=("operator", "operator-pw"),
                        timeout=60)
    assert tenants.status_code == 200 and "erin" in tenants.text  # enrolled here


def test_wrong_codes_and_mail_floods_are_refused(provider: Provider, sink: SmtpSink) -> None:
    frank = f"frank.{provider.port}@example.org"
    signup = Signup.start(provider)
    check = signup.form(email=frank, address="frank")
    assert check.status_code == 200, check.text
    code = mailed_code(sink, frank, 1)
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 7)]
    answers = [confirm(signup, check, guess).status_code for guess in guesses]
    assert answers[:5] == [400] * 5 and answers[5] == 409  # five tries, then start again
    assert confirm(signup, check, code).status_code == 409  # even the right one, now
    assert "frank" not in _hosted(provider)

    # three mails an hour to one address; the fourth page is refused and mails nothing
    for _ in range(2):
        again = Signup.start(provider)
        assert again.form(email=frank, address="frank").status_code == 200
    flood = Signup.start(provider).form(email=frank, address="frank")
    assert flood.status_code == 400 and "Too many sign-up mails" in flood.text
    assert len(sink.to(frank)) == 3


def _held(lock: Path) -> bool:
    """Whether another process holds ``lock`` (a hosted home's owner lock)."""
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def test_hosted_homes_start_with_the_provider_owned_by_one_worker(provider: Provider) -> None:
    assert "erin" in _hosted(provider)  # made by the first test
    provider.stop()
    lock = provider.data / "locks" / "hosted-erin.lock"
    assert not _held(lock)
    provider.args = (*[a for a in provider.args if a not in ("--workers", "1")], "--workers", "2")
    provider.start()
    deadline = time.monotonic() + 60
    while not _held(lock):  # started by the provider itself: nobody asked for the home
        assert time.monotonic() < deadline, "the hosted home did not start with the provider"
        time.sleep(0.1)
    with httpx.Client(base_url=provider.url, timeout=60,
                      headers={"Host": f"erin.{BASE}:{provider.port}"}) as home:
        for _ in range(6):  # whichever worker answers, the owner's or not
            assert home.get("/v1/buckets", auth=("admin", PASSWORD)).status_code == 200
