"""``@user@host`` typed in an entry's text: found, and linked once the home has resolved it.

The home resolves each handle by WebFinger before a publish's snapshot
(``interop/activitypub/mentions.py``) and keeps the answers in a private record
(``services/handles.py``); a build reads that record and does no look-up of its own. Here is
the pure part both sides share: which handles a text names (an address like ``bob@example.net``
is no handle, nor is ``@bob`` without a host) and how a resolved one shows in HTML: linked to
the person's profile as an h-card, the way Mastodon writes a mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HANDLE = re.compile(
    r"(?<![\w@/=.:+&#-])@(?P<user>[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?)"
    rf"@(?P<host>(?:{_LABEL}\.)+{_LABEL}|localhost)(?::(?P<port>[0-9]{{1,5}}))?"
    r"(?![\w@-]|\.[a-z0-9]|:[0-9])",
    re.IGNORECASE,
)
"""A handle: ``@`` not glued to a word, an address or a URL before it; a username as
Mastodon allows it; a host of dot-separated labels (or ``localhost``), a port allowed."""
MAX_HANDLES = 50
"""Handles one text may name (more are left as text)."""


@dataclass(frozen=True)
class Resolved:
    """A handle's actor, as the home found it."""

    actor: str
    """The actor's id: the ``Mention``'s ``href`` and a ``cc`` of the object."""
    url: str
    """The person's profile page, which the HTML links to."""


def key_of(user: str, host: str, port: str | None = None) -> str:
    """How the home keys a handle: ``user@host[:port]``, lowercase (both are case-blind)."""
    return f"{user}@{host}{':' + port if port else ''}".lower().rstrip(".")


def find(text: str) -> list[str]:
    """The handles ``text`` names, as keys, in order of first appearance."""
    found: dict[str, None] = {}
    for match in HANDLE.finditer(text):
        found.setdefault(key_of(match["user"], match["host"], match["port"]))
        if len(found) >= MAX_HANDLES:
            break
    return list(found)


_TAG = re.compile(r"(<[^>]*>)")
_SKIP = ("a", "code", "pre", "script", "style")
"""Elements whose text is never a mention: a link already, code, or not text."""


def _text_parts(html: str) -> Iterable[tuple[str, bool]]:
    """``html`` in pieces, each with whether it is text a mention may be in."""
    depth = 0
    for part in _TAG.split(html):
        if part.startswith("<"):
            name = part[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if len(
                part) > 2 else ""
            if name in _SKIP and not part.endswith("/>"):
                depth = max(0, depth + (-1 if part.startswith("</") else 1))
            yield part, False
        else:
            yield part, depth == 0


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def link(html: str, resolved: Mapping[str, Resolved]) -> tuple[str, tuple[str, ...]]:
    """``html`` with each resolved handle in its text linked to the person's profile
    (``<span class="h-card"><a href=… class="u-url mention">@<span>user</span></a></span>``),
    and the handles linked, in order."""
    if not resolved or "@" not in html:
        return html, ()
    linked: dict[str, None] = {}

    def replace(match: re.Match[str]) -> str:
        key = key_of(match["user"], match["host"], match["port"])
        found = resolved.get(key)
        if found is None or (key not in linked and len(linked) >= MAX_HANDLES):
            return match[0]
        linked.setdefault(key)
        return (f'<span class="h-card" translate="no"><a href="{_escape(found.url)}" '
                f'class="u-url mention">@<span>{match["user"]}</span></a></span>')

    out = "".join(HANDLE.sub(replace, part) if text and "@" in part else part
                  for part, text in _text_parts(html))
    return out, tuple(linked)


def resolved_of(record: Mapping[str, object]) -> dict[str, Resolved]:
    """The resolved handles of the home's record (``{key: {"actor", "url", ...}}``); those
    that failed, or anything malformed, are left out."""
    found = {}
    for key, value in record.items():
        if not isinstance(value, Mapping):
            continue
        actor, url = value.get("actor"), value.get("url")
        if isinstance(actor, str) and actor.startswith(("https://", "http://")):
            shown = url if isinstance(url, str) and url.startswith(("https://", "http://")) \
                else actor
            found[str(key)] = Resolved(actor, shown)
    return found


__all__ = ["HANDLE", "Resolved", "find", "key_of", "link", "resolved_of"]
