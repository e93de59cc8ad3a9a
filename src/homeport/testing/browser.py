"""Debian's headless Chromium driven by Playwright, for every browser test: Playwright is never
let download a browser of its own (that fails here), and a missing Chromium skips the test on a
developer's machine but fails it under CI, where it must run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (Playwright's sync API), closed at the end."""
    if not CHROMIUM.exists():
        message = "/usr/bin/chromium is missing: apt-get install chromium (scripts/install does)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield found
        finally:
            found.close()


def recovery_words(page: Any) -> list[str]:
    """The 24 words of the page that shows the recovery phrase, read once the page has arrived:
    right after a click the old page may still be showing, and reading it then finds no words."""
    items = page.locator("#phrase li")
    items.nth(23).wait_for()
    words: list[str] = items.all_inner_texts()
    return words


def word_fields(page: Any) -> list[Any]:
    """The fields of the page that asks for some of the recovery words, once it has arrived:
    the link or button that leads there returns before it does, and a loaded machine still
    showing the page before finds no fields, types nothing and is refused (what CI saw)."""
    fields = page.locator("input[name^=word]")
    fields.first.wait_for()
    page.wait_for_load_state()
    found: list[Any] = fields.all()
    return found


def type_words(page: Any, words: list[str]) -> None:
    """Answer the recovery-word check with ``words`` (``recovery_words``)."""
    for field in word_fields(page):
        field.fill(words[int(str(field.get_attribute("name"))[4:]) - 1])
