"""The defects a newcomer met in the first minutes (issue J, part 1, item 3), each reproduced in
headless Chromium against a live ``homeport serve``: controls shown that must not be, checks the
browser skipped, forms that forgot what was typed, messages in the program's words instead of
the person's, a table that went stale, and pages wider than a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mnemonic import Mnemonic
from playwright.sync_api import expect

from homeport.testing.browser import recovery_words, word_fields
from homeport.testing.live import LiveHome, free_port

PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}
JARGON = re.compile(r"\b(commits?|snapshots?|build preview|checksum|errno)\b", re.IGNORECASE)
WIDER_THAN_SCREEN = (
    "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
)


def _new_context(browser: Any, home: LiveHome, **options: Any) -> Any:
    return browser.new_context(base_url=home.root, **options)


def test_an_unsaved_article_offers_neither_publish_nor_delete(page: Any) -> None:
    page.goto("/admin/write/new")
    expect(page.get_by_role("button", name="Publish")).to_be_hidden()
    expect(page.get_by_role("button", name="Delete")).to_be_hidden()
    page.get_by_label("Title").fill("Now it exists")
    page.locator("#body").fill("Saved by the editor.")
    expect(page.locator("#status")).to_have_text(re.compile("^Saved"))
    expect(page.get_by_role("button", name="Publish")).to_be_visible()


def test_the_browser_checks_the_name_asked_at_a_provider(page: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto("/admin/providers")
    name = page.locator("#provider-name")
    name.fill("Not a name!")
    assert name.evaluate("el => el.validity.patternMismatch") is True
    name.fill("ada-2")
    assert name.evaluate("el => el.validity.valid") is True
    assert not [m for m in messages if "pattern" in m.lower()], messages


def _restore(page: Any, url: str, phrase: str, password: str) -> str:
    page.goto("/admin/setup/restore")
    page.get_by_label("Address of one of your providers").fill(url)
    page.get_by_label("Your 24-word recovery phrase").fill(phrase)
    page.get_by_label("Choose a password for this device").fill(password)
    page.get_by_role("button", name="Restore my home").click()
    return str(page.get_by_role("alert").inner_text())


def test_a_failed_restore_keeps_what_was_typed_and_says_what_to_do(
    browser: Any, fresh_home: LiveHome
) -> None:
    context = _new_context(browser, fresh_home)
    page = context.new_page()
    phrase = Mnemonic("english").generate(strength=256)
    words = phrase.split()
    try:
        nowhere = f"http://127.0.0.1:{free_port()}"
        said = _restore(page, nowhere, phrase, "a good password")
        assert "127.0.0.1" in said and "check the address" in said.lower(), said
        assert not JARGON.search(said), said
        assert page.get_by_label("Your 24-word recovery phrase").input_value() == phrase
        assert page.get_by_label("Choose a password for this device").input_value() == (
            "a good password"
        )
        assert page.get_by_label("Address of one of your providers").input_value() == nowhere

        swapped = " ".join([words[1], words[0], *words[2:]])
        said = _restore(page, nowhere, swapped, "a good password")
        assert not JARGON.search(said), said
        assert "paper" in said, said  # points at the written copy
        assert page.get_by_label("Your 24-word recovery phrase").input_value() == swapped

        said = _restore(page, nowhere, " ".join([*words[:23], "notaword"]), "a good password")
        assert "notaword" in said and "word 24" in said.lower(), said
    finally:
        context.close()


def test_the_phrase_check_keeps_the_right_words(browser: Any, fresh_home: LiveHome) -> None:
    context = _new_context(browser, fresh_home)
    page = context.new_page()
    try:
        page.goto("/admin/setup")
        page.get_by_label("Site title").fill("Fresh")
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_label("The same password again").fill(PASSWORD)
        page.get_by_role("button", name="Create my site").click()
        words = recovery_words(page)
        assert "only this once" not in page.content()  # the next page can show them again
        page.get_by_role("link", name="I have written them down").click()
        fields = word_fields(page)
        numbers = [int(str(f.get_attribute("name"))[4:]) for f in fields]
        typed = [words[n - 1] for n in numbers]
        typed[1] = "zebra" if typed[1] != "zebra" else "apple"
        for field, word in zip(fields, typed, strict=True):
            field.fill(word)
        page.get_by_role("button", name="Confirm").click()
        assert f"Word {numbers[1]}" in page.get_by_role("alert").inner_text()
        kept = [page.locator(f"#word{n}").input_value() for n in numbers]
        assert kept[0] == typed[0] and kept[2] == typed[2], kept
        wrong = page.locator(f"#word{numbers[1]}")
        assert wrong.get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == f"word{numbers[1]}"
        wrong.fill(words[numbers[1] - 1])
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/admin/")
    finally:
        context.close()


def _enroll(page: Any, url: str, code: str, name: str) -> None:
    page.goto("/admin/providers")
    page.get_by_label("Provider's address").fill(url)
    page.get_by_label("Enrollment code", exact=False).fill(code)
    page.get_by_label("Name you would like there", exact=False).fill(name)
    page.get_by_role("button", name="Enroll").click()
    page.wait_for_selector("text=Enrolled with")


def test_the_providers_table_follows_a_publish_in_plain_words(
    page: Any, provider: tuple[str, Path], gui_invite: Any
) -> None:
    url, data = provider
    _enroll(page, url, gui_invite(data, "5GB"), "ada")
    row = page.locator(f"#providers-table tr[data-url='{url}']")
    expect(row.locator(".health")).to_have_text("reachable")
    expect(row.locator(".usage")).to_contain_text("of 5 GB")  # decimal units, as it was given
    page.get_by_role("button", name="Publish to every provider").click()
    expect(page.locator("#progress-state")).to_contain_text("live", timeout=60_000)
    expect(row.locator(".last")).not_to_have_text("never")  # without a reload
    expect(row.locator(".live")).not_to_have_text("—")
    text = page.locator("main").inner_text()
    assert not JARGON.search(text), JARGON.search(text)


def test_the_dashboard_speaks_plainly(page: Any) -> None:
    page.goto("/admin/")
    text = page.locator("main").inner_text()
    assert not JARGON.search(text), JARGON.search(text)


def _pages_with_entries(page: Any) -> list[str]:
    """Every signed-in GUI page, with an entry of each kind so their own pages exist."""
    page.goto("/admin/write/new")
    token = page.locator("meta[name=csrf]").get_attribute("content")
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    long_title = "A title with a rather-long-unbroken-word-in-it-" + "x" * 40
    article = page.request.post("/admin/api/articles", headers=headers,
                                data={"title": long_title, "body": "Text."}).json()
    paths = ["/admin/", "/admin/write", "/admin/write/new", f"/admin/write/{article['id']}",
             "/admin/notes", "/admin/media", "/admin/papers", "/admin/providers",
             "/admin/responses", "/admin/settings"]
    page.goto("/admin/media")
    media = page.locator(".grid a").first
    if media.count():
        paths.append(str(media.get_attribute("href")))
    page.goto("/admin/papers")
    paper = page.locator("main ul a").first
    if paper.count():
        paths.append(str(paper.get_attribute("href")))
    return paths


def test_every_page_fits_a_phone(
    browser: Any, live_home: LiveHome, owner: Any, fresh_home: LiveHome,
    provider: tuple[str, Path], gui_invite: Any,
) -> None:
    context = _new_context(browser, live_home, storage_state=owner, viewport=PHONE,
                           is_mobile=True)
    page = context.new_page()
    too_wide: dict[str, int] = {}
    try:
        url, data = provider
        _enroll(page, url, gui_invite(data), "phone")
        for path in _pages_with_entries(page):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            extra = page.evaluate(WIDER_THAN_SCREEN)
            if extra > 0:
                too_wide[path] = extra
    finally:
        context.close()
    anonymous = _new_context(browser, fresh_home, viewport=PHONE, is_mobile=True)
    page = anonymous.new_page()
    try:
        for path in ["/admin/setup", "/admin/setup/restore"]:
            page.goto(path)
            extra = page.evaluate(WIDER_THAN_SCREEN)
            if extra > 0:
                too_wide[path] = extra
        page.goto("/admin/setup")
        page.get_by_label("Site title").fill("Phone")
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_label("The same password again").fill(PASSWORD)
        page.get_by_role("button", name="Create my site").click()
        for path in ["/admin/setup/phrase", "/admin/setup/confirm"]:
            page.goto(path)
            extra = page.evaluate(WIDER_THAN_SCREEN)
            if extra > 0:
                too_wide[path] = extra
    finally:
        anonymous.close()
    logged_out = _new_context(browser, live_home, viewport=PHONE, is_mobile=True)
    page = logged_out.new_page()
    try:
        page.goto("/admin/login")
        extra = page.evaluate(WIDER_THAN_SCREEN)
        if extra > 0:
            too_wide["/admin/login"] = extra
    finally:
        logged_out.close()
    assert too_wide == {}, f"pixels of sideways scrolling at 390 px: {too_wide}"
