"""The README's walkthrough ("A home in five commands"), done the way a newcomer would on one
machine: run a provider, start a home and set it up in the browser (headless Chromium), write,
enroll with the provider from the Providers page, publish, see the site at the provider; lose
the device and restore the home elsewhere from the phrase in the GUI; move to a second provider
and leave the first. Real processes on free loopback ports; every one is stopped at the end."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mf2py
import pytest

from homeport.repo.repository import Repository
from homeport.testing.browser import recovery_words, type_words
from homeport.testing.live import LiveHome, free_port, start_home

from .provider_support import BASE, Provider
from .repo_support import cli_env, ok

PASSWORD = "correct horse battery"
ARTICLE = "Hello from home"
NOTE = "Planted tomatoes today."
SECRET = "A note only I can see"
WAIT_MS = 60_000  # the longest any one step may take in the browser


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[Callable[[str], Provider]]:
    """``start(name)``: a ``homeport provider serve`` on a free port; all stopped at the end."""
    started: list[Provider] = []

    def start(name: str) -> Provider:
        found = Provider(tmp_path / name, tmp_path / f"{name}.log")
        started.append(found)
        return found.start()

    try:
        yield start
    finally:
        for found in started:
            found.stop()


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[Callable[[str], LiveHome]]:
    """``start(name)``: a ``homeport serve`` on a fresh data dir; all stopped at the end."""
    started: list[LiveHome] = []
    env = {**cli_env(), "HOMEPORT_LOG_LEVEL": "warning"}

    def start(name: str) -> LiveHome:
        found = start_home(tmp_path / name, env, free_port(), tmp_path / f"{name}.log")
        started.append(found)
        return found

    try:
        yield start
    finally:
        for found in started:
            found.stop()


def h_entries(html: str, url: str) -> dict[str, dict[str, Any]]:
    """The page's h-entries (at any depth) by name, or by text for notes."""
    found: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "h-entry" in item.get("type", []):
                props = item["properties"]
                content = props.get("content", [{}])[0]
                text = content.get("value", "") if isinstance(content, dict) else str(content)
                found[(props.get("name") or [text])[0].strip()] = item
            walk(item.get("children", []))
            for values in item.get("properties", {}).values():
                walk([v for v in values if isinstance(v, dict) and "type" in v])

    walk(mf2py.parse(doc=html, url=url)["items"])
    return found


def publish_from_the_gui(page: Any) -> None:
    """Press Publish on the Providers page and wait for the live progress to say done."""
    from playwright.sync_api import expect

    page.goto("/admin/providers")
    page.get_by_role("button", name="Publish to every provider").click()
    expect(page.locator("#progress-state")).to_have_text(
        re.compile(r"^(Done|Not every provider)"), timeout=WAIT_MS
    )
    said = page.locator("#progress-state").inner_text()
    assert said == "Done: your site is live at every provider.", page.content()


def enroll_from_the_gui(page: Any, provider: Provider) -> None:
    page.goto("/admin/providers")
    page.get_by_label("Provider's address").fill(provider.url)
    page.get_by_label("Enrollment code").fill(provider.invite())
    page.get_by_label("Name you would like there").fill("me")
    page.get_by_role("button", name="Enroll").click()
    page.wait_for_selector(f"text=Enrolled with {provider.url}", timeout=WAIT_MS)
    assert f"https://me.{BASE}/" in page.content()



def differing_entries(first: Path, second: Path) -> set[str]:
    """The store paths whose object differs between two homes' latest snapshots."""

    def entries(data: Path) -> dict[str, tuple[bytes, bool] | None]:
        repo = Repository.open(data, None)
        try:
            return {key: repo.entry(key) for key in repo.entries_under("")}
        finally:
            repo.close()

    a, b = entries(first), entries(second)
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}

def test_a_newcomer_publishes_restores_and_moves(
    tmp_path: Path,
    providers: Callable[[str], Provider],
    homes: Callable[[str], LiveHome],
    browser: Any,
) -> None:
    errors: list[str] = []

    def new_page(home: LiveHome) -> Any:
        context = browser.new_context(base_url=home.root, viewport={"width": 1200, "height": 800})
        context.set_default_timeout(WAIT_MS)
        found = context.new_page()
        found.on("pageerror", lambda exc: errors.append(str(exc)))
        return found

    # 1. a provider: `homeport provider serve --data prov --base-domain example.test` (on a
    #    free port instead of 8760; invites with `homeport provider invite --data prov --json`)
    first = providers("prov")

    # 2. a home: `homeport serve --data home`, then the first-run wizard at /admin/
    home = homes("home")
    page = new_page(home)
    page.goto("/admin/")
    assert page.url.endswith("/admin/setup")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Site title").fill("Ada's corner")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my site").click()
    words = recovery_words(page)  # shown once: written down here
    assert len(words) == 24
    page.get_by_role("link", name="I have written them down").click()
    type_words(page, words)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/admin/")

    # 3. write: an article and a note in the GUI, and a private note from the command line
    page.goto("/admin/write/new")
    page.get_by_label("Title").fill(ARTICLE)
    page.locator("#body").fill("First paragraph with **bold** text.")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_selector(f"text=Published “{ARTICLE}”")
    page.goto("/admin/notes")
    page.get_by_label("What\u2019s on your mind?").fill(NOTE)
    page.get_by_role("button", name="Post").click()
    page.wait_for_selector("text=Posted.")
    ok("add", "note", SECRET, "--private", data=home.data)

    # 4. enroll from the Providers page with the operator's invite, publish, see the site
    enroll_from_the_gui(page, first)
    publish_from_the_gui(page)
    site = first.page("me")
    assert site.status_code == 200
    entries = h_entries(site.text, f"http://me.{BASE}/")
    assert ARTICLE in entries and NOTE in entries, list(entries)
    assert SECRET not in site.text
    article_url = entries[ARTICLE]["properties"]["url"][0]
    article = first.page("me", urlsplit(article_url).path)
    assert article.status_code == 200
    assert (
        "bold" in h_entries(article.text, article_url)[ARTICLE]["properties"]["content"][0]["html"]
    )

    # 5. the device is lost; a new home elsewhere (`homeport serve --data new-home`) is
    #    restored from the provider with the phrase, from the wizard's "Restore" link
    home.stop()
    new_home = homes("new-home")
    page = new_page(new_home)
    page.goto("/admin/")
    page.get_by_role("link", name="I already have a home at a provider").click()
    page.get_by_label("Address of one of your providers").fill(first.url)
    page.get_by_label("Your 24-word recovery phrase").fill(" ".join(words))
    page.get_by_label("Choose a password for this device").fill("a new password")
    page.get_by_role("button", name="Restore my home").click()
    page.wait_for_selector("text=Your home is back")
    # everything came back: the lost home's last commit is the new home's too (the same id,
    # so the same bytes of everything it reaches), and the article is in the preview. The new
    # home may have published once since: the password chosen for this device is in its
    # account record, and auto-publish picks that up; nothing else may differ.
    lost_log = json.loads(ok("log", "--json", data=home.data))
    back_log = json.loads(ok("log", "--json", data=new_home.data))
    assert lost_log[0]["commit"] in [c["commit"] for c in back_log]
    assert differing_entries(home.data, new_home.data) <= {"/accounts/admin"}
    ok("verify", data=new_home.data)
    page.goto("/preview/")
    assert ARTICLE in h_entries(page.content(), page.url)
    page.goto("/admin/notes")  # the private note too, opened with the phrase's keys
    assert SECRET in page.content() and NOTE in page.content()

    # 6. move: a second provider (`homeport provider serve --data prov2 ...`), enrolled and
    #    published to from the restored home's GUI (which still lists the first: it publishes
    #    to both); then `homeport providers remove URL` leaves the first, whose copy is deleted
    second = providers("prov2")
    enroll_from_the_gui(page, second)
    publish_from_the_gui(page)
    moved = second.page("me")
    assert moved.status_code == 200
    moved_entries = h_entries(moved.text, f"http://me.{BASE}/")
    assert ARTICLE in moved_entries and NOTE in moved_entries, list(moved_entries)
    assert SECRET not in moved.text
    listed = json.loads(ok("providers", "list", "--json", data=new_home.data))
    assert sorted(p["url"] for p in listed) == sorted([first.url, second.url])
    assert {p["site"] for p in listed} == {f"https://me.{BASE}/"}  # the restored entry too
    # the Providers page shows each one's health and storage (asked after the page loaded)
    from playwright.sync_api import expect

    page.goto("/admin/providers")
    rows = page.locator("#providers-table tbody tr")
    expect(rows.locator(".health")).to_have_text(["reachable", "reachable"])
    expect(rows.first.locator(".usage")).to_contain_text(" of ")
    if folder := os.environ.get("HOMEPORT_SCREENSHOTS"):  # the README's picture of this page
        page.screenshot(path=str(Path(folder) / "15-providers.png"), full_page=True)
    ok("providers", "remove", first.url, data=new_home.data)
    assert first.page("me").status_code == 410
    assert second.page("me").status_code == 200
    assert [
        p["url"] for p in json.loads(ok("providers", "list", "--json", data=new_home.data))
    ] == [second.url]
    assert errors == [], f"JavaScript errors: {errors}"
