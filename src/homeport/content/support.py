"""Donations without a processor: links to the creator's pages at Liberapay, Ko-fi, Open
Collective, GitHub Sponsors, PayPal.me and the like (rendered with ``rel="payment"``), and a
Web Monetization wallet address (``<link rel="monetization">``). Kept in the site's settings as
``donations`` (``[{"title", "url"}]``) and ``monetization``. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from homeport.content.errors import ContentError

PLATFORMS = {
    "liberapay.com": "Liberapay",
    "ko-fi.com": "Ko-fi",
    "opencollective.com": "Open Collective",
    "github.com": "GitHub Sponsors",
    "paypal.me": "PayPal",
    "www.paypal.me": "PayPal",
    "patreon.com": "Patreon",
    "www.patreon.com": "Patreon",
    "buymeacoffee.com": "Buy Me a Coffee",
    "www.buymeacoffee.com": "Buy Me a Coffee",
}
"""Known hosts → the name a link gets when none is given."""
MAX_LINKS = 10
POINTER = re.compile(r"^\$([a-z0-9.-]{1,253}(?::\d{1,5})?)(/[^\s?#]{0,500})?$", re.I)


def _https(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
        raise ContentError(f"{what} must be an https:// address")
    if len(url) > 2000:
        raise ContentError(f"{what} is longer than 2000 characters")
    return url


def platform_name(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return PLATFORMS.get(host, host.removeprefix("www.") or url)


def donation_links(rows: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``(title, url)`` pairs, checked: https only, a title from the platform when empty."""
    links: list[dict[str, str]] = []
    for number, (title, url) in enumerate(rows, 1):
        checked = _https(url.strip(), f"Donation link {number}")
        links.append({"title": " ".join(title.split())[:100] or platform_name(checked),
                      "url": checked})
    if len(links) > MAX_LINKS:
        raise ContentError(f"At most {MAX_LINKS} donation links.")
    return links


def wallet_address(text: str) -> str:
    """A Web Monetization wallet address: an https URL, or a payment pointer
    (``$wallet.example/alice`` means ``https://wallet.example/alice``; ``$wallet.example``
    alone, ``https://wallet.example/.well-known/pay``). ``""`` for none."""
    text = text.strip()
    if not text:
        return ""
    found = POINTER.match(text)
    if found is not None:
        return f"https://{found.group(1).lower()}{found.group(2) or '/.well-known/pay'}"
    return _https(text, "The wallet address")


def rendered(settings: Any) -> tuple[list[dict[str, str]], str]:
    """What a page shows from settings whatever wrote them (the GUI, ``/v1``): the links and
    the wallet address that pass the checks; the others are left out."""
    links: list[dict[str, str]] = []
    for item in (settings.get("donations") or []) if hasattr(settings, "get") else []:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            try:
                links += donation_links([(str(item.get("title") or ""), item["url"])])
            except ContentError:
                continue
    try:
        wallet = wallet_address(str(settings.get("monetization") or ""))
    except (ContentError, AttributeError):
        wallet = ""
    return links[:MAX_LINKS], wallet


__all__ = ["PLATFORMS", "donation_links", "platform_name", "rendered", "wallet_address"]
