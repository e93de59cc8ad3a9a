"""Hosted homes at a real ``homeport provider serve`` (issue J, part 2, item 6), over HTTP with
httpx, on a provider keeping its state in SQLite and in PostgreSQL: the sign-up's three pages,
each piece of bad input refused with nothing written, the home that results (a device key the
phrase's root key authorised, the root key nowhere on the provider, enrolled at the provider),
its single-use welcome ticket, and a note posted in it live on its site."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from homeport.crypto.keys import did_key, keys_from_phrase
from homeport.testing.live import free_port

from .provider_support import Provider, provider_env

BASE = "localhost"
PASSWORD = "correct horse battery"
PENDING = re.compile(r'name="pending" value="([^"]+)"')
ANSWERS = re.compile(r'name="answers" value="([^"]+)"')
WORDS = re.compile(r"<li>([a-z]+)</li>")
POSITIONS = re.compile(r'name="word(\d+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HOSTED_ENV = {
    "HOMEPORT_HOSTED_HOMES": "1",
    "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
    "HOMEPORT_ARGON2_TIME_COST": "1",
    "HOMEPORT_FETCH_ALLOW_PRIVATE": "1",
}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("hosted")
    args: tuple[str, ...] = ("--workers", "1")
    if request.param == "postgresql":
        server = request.getfixturevalue("_postgres_server")
        database = server.create_database(f"hosted_{free_port()}")
        args += ("--database", database)
    found = Provider(folder / "provider", folder / "provider.log", env=HOSTED_ENV, args=args,
                     base=BASE)
    found.start()
    try:
        yield found
    finally:
        found.stop()


def invite(provider: Provider) -> str:
    database = [a for a in provider.args if a.startswith("postgresql")]
    return provider.invite(*(["--database", database[0]] if database else []))


@dataclass
class Signup:
    """One browser's way through the sign-up (its cookie jar is the client's)."""

    client: httpx.Client
    pending: str
    phrase: str

    @classmethod
    def start(cls, provider: Provider) -> Signup:
        client = httpx.Client(base_url=provider.url, timeout=60)
        page = client.get("/signup")
        assert page.status_code == 200, page.text
        words = WORDS.findall(page.text)
        assert len(words) == 24
        return cls(client, _one(PENDING, page.text), " ".join(words))

    def form(self, **changes: str) -> httpx.Response:
        fields = {"pending": self.pending, "code": "", "address": "ada", "title": "Ada's notes",
                  "name": "Ada", "password": PASSWORD, "password2": PASSWORD, **changes}
        return self.client.post("/signup", data=fields)

    def answer(self, page: httpx.Response, wrong: int | None = None) -> httpx.Response:
        positions = [int(n) for n in POSITIONS.findall(page.text)]
        words = self.phrase.split()
        typed = {f"word{n}": words[n - 1] for n in positions}
        if wrong is not None:
            typed[f"word{positions[wrong]}"] = "zzz"
        return self.client.post("/signup/check", data={"answers": _one(ANSWERS, page.text),
                                                       **typed})


def _one(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    assert found, text[:2000]
    return found.group(1)


def _hosted(provider: Provider) -> list[str]:
    root = provider.data / "hosted"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _home(provider: Provider, name: str) -> httpx.Client:
    return httpx.Client(base_url=provider.url, headers={"Host": f"{name}.{BASE}:{provider.port}"},
                        timeout=60)


def test_signup_makes_a_home_with_a_device_key_enrolled_here_and_a_note_goes_live(
    provider: Provider,
) -> None:
    signup = Signup.start(provider)
    check = signup.form(code=invite(provider))
    assert check.status_code == 200, check.text
    assert signup.phrase.split()[0] not in WORDS.findall(check.text)  # the words are not shown
    wrong = signup.answer(check, wrong=1)
    assert wrong.status_code == 400 and "not match your phrase" in wrong.text
    assert _hosted(provider) == []  # nothing before the check passes
    done = signup.answer(check)
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(f"http://ada.{BASE}:{provider.port}/admin/welcome?ticket=")

    folder = provider.data / "hosted" / "ada"
    assert not (folder / "keys" / "root.key").exists()  # never the root key
    doc = json.loads((folder / "identity.json").read_text())
    root = did_key(keys_from_phrase(signup.phrase).root.public_key())
    assert doc["did"] == root
    device = doc["operations"][-1]["key"]
    assert device != root and len(doc["operations"]) == 1
    tenant = httpx.get(f"{provider.url}/_homeport/admin/", auth=("operator", "operator-pw"),
                       timeout=60)
    assert tenant.status_code == 200 and "ada" in tenant.text

    with _home(provider, "ada") as home:
        path = location.split(str(provider.port), 1)[1]
        landed = home.get(path)
        assert landed.status_code == 200 and 'url=/admin/notes"' in landed.text
        notes = home.get("/admin/notes")
        assert notes.status_code == 200 and "first note" in notes.text
        assert home.get(path).status_code == 403  # the ticket worked once
        posted = home.post("/admin/notes", data={"csrf": _one(CSRF, notes.text),
                                                 "text": "Hello from a hosted home"})
        assert posted.status_code == 303
        deadline = time.monotonic() + 60  # seconds when idle; the bound is for a loaded machine
        while "Hello from a hosted home" not in home.get("/").text:
            assert time.monotonic() < deadline, "the note never went live"
            time.sleep(0.2)
        outsider = httpx.Client(base_url=provider.url, timeout=30,
                                headers={"Host": f"ada.{BASE}:{provider.port}"})
        with outsider:
            asked = outsider.get("/admin/notes")
            assert asked.status_code == 303 and "/admin/login" in asked.headers["location"]
            api = outsider.get("/v1/buckets", auth=("admin", PASSWORD))
            assert api.status_code == 200, api.text  # the owner's password opens /v1 too


def test_a_passkey_sign_up_leaves_no_password_and_opens_only_the_passkey_page(
    provider: Provider,
) -> None:
    signup = Signup.start(provider)
    check = signup.form(code=invite(provider), address="bea", login="passkey", password="",
                        password2="")
    assert check.status_code == 200, check.text
    done = signup.answer(check)
    assert done.status_code == 303, done.text
    path = done.headers["location"].split(str(provider.port), 1)[1]
    assert path.startswith("/admin/welcome?ticket=")
    with _home(provider, "bea") as home:
        landed = home.get(path)
        assert landed.status_code == 200 and 'url=/admin/passkeys"' in landed.text
        for elsewhere in ("/admin/notes", "/admin/", "/admin/settings"):
            asked = home.get(elsewhere)  # nothing else until the passkey is made
            assert asked.status_code == 303, (elsewhere, asked.status_code)
            assert asked.headers["location"] == "/admin/passkeys"
        shown = home.get("/admin/passkeys")
        assert shown.status_code == 200 and "Make your passkey" in shown.text
        assert "bea.localhost" in shown.text and 'id="passkey-add"' in shown.text
    with _home(provider, "bea") as again:  # left before making it: the same link lets them in
        assert 'url=/admin/passkeys"' in again.get(path).text
        assert again.get("/admin/notes").headers["location"] == "/admin/passkeys"
    with _home(provider, "bea") as outsider:
        login = outsider.get("/admin/login")
        assert "Sign in with a passkey" in login.text  # offered on every hosted home
        empty = outsider.post("/admin/login", data={"csrf": _one(CSRF, login.text),
                                                    "password": ""})
        assert outsider.get("/admin/notes").status_code == 303, empty.status_code
        assert outsider.get("/v1/buckets", auth=("admin", "")).status_code == 401
        assert outsider.get("/admin/welcome?ticket=wrong").status_code == 403


def test_bad_sign_ups_are_refused_and_write_nothing(provider: Provider) -> None:
    before = _hosted(provider)
    code = invite(provider)
    signup = Signup.start(provider)
    cases = {
        "invite code": signup.form(code="nope-nope-nope"),
        "taken": signup.form(code=code) if "ada" in before else None,
        "lower-case letters": signup.form(code=code, address="Not A Name!"),
        "At least 8": signup.form(code=code, address="bob", password="short",
                                  password2="short"),
        "passwords differ": signup.form(code=code, address="bob", password2=PASSWORD + "!"),
        "Give your site a title": signup.form(code=code, address="bob", title=""),
        "expired": signup.form(code=code, address="bob", pending=signup.pending[:-4] + "AAAA"),
    }
    for said, answer in cases.items():
        if answer is None:
            continue
        assert answer.status_code == 400, (said, answer.text)
        assert said in answer.text, (said, answer.text)
        assert "Traceback" not in answer.text
    kept = signup.form(code="nope-nope-nope", address="bob", title="Bob's")
    assert 'value="bob"' in kept.text and "Bob&#39;s" in kept.text  # what was typed is kept
    assert PASSWORD not in kept.text  # but never the password

    # another browser (no cookie) cannot post this page's sign-up
    stranger = httpx.post(provider.url + "/signup", data={
        "pending": signup.pending, "code": code, "address": "bob", "title": "B",
        "password": PASSWORD, "password2": PASSWORD}, timeout=30)
    assert stranger.status_code == 400 and "expired" in stranger.text
    assert _hosted(provider) == before


def test_one_invite_makes_one_home(provider: Provider) -> None:
    code = invite(provider)
    first, second = Signup.start(provider), Signup.start(provider)
    first_check = first.form(code=code, address="carol")
    second_check = second.form(code=code, address="dave")
    assert first_check.status_code == second_check.status_code == 200
    assert first.answer(first_check).status_code == 303
    late = second.answer(second_check)
    assert late.status_code == 409 and "invite code" in late.text, late.text
    replay = first.answer(first_check)  # the same answers again (its cookie is spent)
    assert replay.status_code == 400 and "Nothing was created" in replay.text
    assert "carol" in _hosted(provider) and "dave" not in _hosted(provider)


def test_signup_is_offered_only_when_the_operator_turns_it_on(tmp_path: Path) -> None:
    plain = Provider(tmp_path / "plain", tmp_path / "plain.log", base=BASE,
                     args=("--workers", "1")).start()
    try:
        assert httpx.get(plain.url + "/signup", timeout=30).status_code == 404
    finally:
        plain.stop()
    refused = subprocess.run(
        [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(tmp_path / "o"),
         "--port", str(free_port()), "--base-domain", BASE],
        capture_output=True, timeout=60, check=False,
        env={**provider_env(), "HOMEPORT_HOSTED_HOMES": "1", "HOMEPORT_HOSTED_SIGNUP": "open"},
    )
    assert refused.returncode != 0
    assert "hosted_signup" in refused.stderr.decode() and "Traceback" not in refused.stderr.decode()
