"""Issue J's Done-when against a real hosted home: a home signed up for at a real provider
(``hosted_homes``), holding entries, a member, a mention and a follower, moves to a device and
back in Chromium, each walk counted (each page opened, each button or link pressed: at most
three), and nothing is lost either way (the other copy's last commit in its history, no stored
object differing but the device owner's own password, ``verify`` clean). Then the home is
restored on a new device, counted the same way.

The member, mention and follower are written by the functions the CLI and the inbox handlers
call (``members.store.add_member``, ``content.mentions.apply``, ``content.followers.
save_follower``), on the hosted home's store while it runs."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from homeport.content import followers, mentions
from homeport.members import store as members
from homeport.members.model import MemberFields
from homeport.services.context import Context, run_blocking
from homeport.settings import Settings
from homeport.testing.live import LiveHome, free_port, start_home

from .provider_support import Provider
from .repo_support import cli_env, ok
from .test_hosted import BASE, CSRF, HOSTED_ENV, PASSWORD, Signup, _home, _one, invite
from .test_newcomer import differing_entries

MAX_STEPS = 3
NOTES = ("Written while hosted", "A second hosted note")
MEMBER = "reader@example.org"
FOLLOWER = "https://social.example/users/bob"
T = TypeVar("T")


def on_store(folder: Path, work: Callable[[Context], Awaitable[T]]) -> T:
    found = run_blocking(Settings(data_dir=folder), work)
    assert found is not None
    return found


def kept(folder: Path) -> dict[str, Any]:
    """What the Done-when names, as this copy's store holds it."""

    async def read(ctx: Context) -> dict[str, Any]:
        actors = []
        for site in await followers.sites(ctx):
            actors += [f["actor"] for f in await followers.list_followers(ctx, site)]
        return {
            "members": sorted(m["email"] for m in await members.list_members(ctx)),
            "mentions": sorted(m["source"] for m in await mentions.list_mentions(ctx)),
            "followers": sorted(actors),
        }

    return on_store(folder, read)


def start_device(tmp_path: Path, name: str) -> LiveHome:
    env = {**cli_env(), "HOMEPORT_LOG_LEVEL": "warning"}
    return start_home(tmp_path / name, env, free_port(), tmp_path / f"{name}.log",
                      timeout=90)  # a first start under the suite's load


def shot(page: Any, name: str) -> None:
    """A screenshot of a step, into ``HOMEPORT_SCREENSHOTS`` when set (the README's)."""
    folder = os.environ.get("HOMEPORT_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def restore_walk(browser: Any, device: LiveHome, provider: Provider, phrase: str,
                 prefix: str) -> list[str]:
    """A new device takes the home over from the provider, counted; the steps."""
    context = browser.new_context(base_url=device.root)
    context.set_default_timeout(90_000)
    page = context.new_page()
    steps: list[str] = []
    started = time.monotonic()
    try:
        steps.append("open /admin/")
        page.goto("/admin/")
        shot(page, f"{prefix}-1-wizard")
        steps.append("press I already have a home at a provider")
        page.get_by_role("link", name="I already have a home at a provider").click()
        page.get_by_label("Address of one of your providers").fill(provider.url)
        page.get_by_label("Your 24-word recovery phrase").fill(phrase)
        page.get_by_label("Choose a password for this device").fill("a device password")
        shot(page, f"{prefix}-2-form")
        steps.append("press Restore my home")
        page.get_by_role("button", name="Restore my home").click()
        page.wait_for_selector("text=lives here now")
        shot(page, f"{prefix}-3-done")
        print(f"restore on a device: {len(steps)} steps, {time.monotonic() - started:.1f} s")
        page.goto("/admin/notes")  # the result, not a step
        for note in NOTES:
            assert note in page.content()
    finally:
        context.close()
    return steps


@pytest.mark.timeout(900)
def test_a_hosted_home_moves_to_a_device_and_back_with_everything(
    tmp_path: Path, browser: Any
) -> None:
    provider = Provider(tmp_path / "provider", tmp_path / "provider.log", env=HOSTED_ENV,
                        args=("--workers", "1"), base=BASE).start()
    devices: list[LiveHome] = []
    try:
        # a hosted home (its sign-up is counted by test_hosted_walk), with two notes live
        signup = Signup.start(provider)
        done = signup.answer(signup.form(code=invite(provider)))
        assert done.status_code == 303, done.text
        hosted = provider.data / "hosted" / "ada"
        owner = _home(provider, "ada")
        owner.get(done.headers["location"].split(str(provider.port), 1)[1])
        for note in NOTES:
            form = owner.get("/admin/notes")
            posted = owner.post("/admin/notes", data={"csrf": _one(CSRF, form.text),
                                                      "text": note})
            assert posted.status_code == 303, posted.text
        deadline = time.monotonic() + 90
        while not all(note in provider.page("ada").text for note in NOTES):
            assert time.monotonic() < deadline, "the notes never went live"
            time.sleep(0.2)
        entry = _one(re.compile(r'href="[^"]*?(/notes/[^"/]+/)"'), provider.page("ada").text)

        async def fill(ctx: Context) -> bool:
            await members.add_member(ctx, MEMBER, MemberFields(name="Reader", tier=None,
                                                               status="free"))
            site = (await followers.sites(ctx))[0]
            await followers.save_follower(ctx, site, FOLLOWER, followers.ACCEPTED,
                                          {"inbox": FOLLOWER + "/inbox"}, "item-follow")
            applied = await mentions.apply(ctx, "item-mention", {
                "action": "upsert", "source": "https://elsewhere.example/reply",
                "target": f"http://ada.{BASE}{entry}", "type": "reply",
                "content": {"text": "Nice note"}, "verified": "2026-12-04T18:00:00Z"})
            return applied.status != "dropped"

        before = len(json.loads(ok("log", "--json", data=hosted)))
        assert on_store(hosted, fill)
        everything = kept(hosted)
        assert everything == {"members": [MEMBER], "mentions": ["https://elsewhere.example/reply"],
                              "followers": [FOLLOWER]}
        deadline = time.monotonic() + 90  # auto-publish takes them to the provider
        while not _published_since(hosted, before):
            assert time.monotonic() < deadline, "the hosted home never published them"
            time.sleep(0.5)

        # 1. move home to a device, counted
        device = start_device(tmp_path, "device")
        devices.append(device)
        steps = restore_walk(browser, device, provider, signup.phrase, "move")
        assert len(steps) <= MAX_STEPS, steps
        assert kept(device.data) == everything
        ok("verify", data=device.data)
        deadline = time.monotonic() + 90  # the hosted copy learns it at its next relay poll
        while "Move the home here" not in owner.get("/admin/").text:  # a standby, and says so
            assert time.monotonic() < deadline, "the hosted copy never learnt of the move"
            time.sleep(0.5)

        # the device writes and publishes
        ok("add", "note", "Written on the device", data=device.data)
        ok("publish", data=device.data)

        # 2. move back to the provider from the hosted home's own pages, counted
        context = browser.new_context(base_url=f"http://ada.{BASE}:{provider.port}")
        context.set_default_timeout(90_000)
        page = context.new_page()
        page.goto("/admin/login")  # already signed in there before: not a step
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("Log in|Sign in")).click()
        back: list[str] = []
        started = time.monotonic()
        try:
            back.append("open /admin/")
            page.goto("/admin/")
            shot(page, "back-1-standby")
            back.append("press Move the home here")
            page.get_by_role("link", name="Move the home here").click()
            page.get_by_label("Address of the provider your home publishes to").fill(provider.url)
            page.get_by_label("Your 24-word recovery phrase").fill(signup.phrase)
            shot(page, "back-2-form")
            back.append("press Move my home here")
            page.get_by_role("button", name="Move my home here").click()
            page.wait_for_selector("text=lives here again")
            shot(page, "back-3-done")
            print(f"move back to the provider: {len(back)} steps, "
                  f"{time.monotonic() - started:.1f} s")
        finally:
            context.close()
        assert len(back) <= MAX_STEPS, back

        device_log = json.loads(ok("log", "--json", data=device.data))
        hosted_log = json.loads(ok("log", "--json", data=hosted))
        assert device_log[0]["commit"] in [c["commit"] for c in hosted_log]
        assert differing_entries(device.data, hosted) <= {"/accounts/admin"}
        assert kept(hosted) == everything
        ok("verify", data=hosted)
        assert "Written on the device" in owner.get("/admin/notes").text

        # 3. restore on a new device (the first one is lost), counted
        device.stop()
        fresh = start_device(tmp_path, "fresh")
        devices.append(fresh)
        again = restore_walk(browser, fresh, provider, signup.phrase, "restore")
        assert len(again) <= MAX_STEPS, again
        assert kept(fresh.data) == everything
    finally:
        for started_device in devices:
            started_device.stop()
        provider.stop()


def _published_since(folder: Path, commits: int) -> bool:
    """Whether the home made a commit after the first ``commits`` and its provider holds its
    latest one."""
    log = json.loads(ok("log", "--json", data=folder))
    listed = json.loads((folder / "providers.json").read_text())["providers"]
    return len(log) > commits and listed[0].get("head") == log[0]["commit"]
