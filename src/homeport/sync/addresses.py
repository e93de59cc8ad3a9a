"""Where the site's actor lives, remembered across publishes (issue F.4, moving).

Each address a site is served at is an ActivityPub actor of its own (``<address>/activitypub/
actor``). The site's *address* is the one of the first provider in the home's list that gives
it one; when that changes between two publishes (``name.provider-a`` → ``name.provider-b``, or a
custom domain) while the old address is still served, the site has moved: from then on the new
actor lists the old one in ``alsoKnownAs``, the old actor names the new one in ``movedTo``
(``links``), and the old provider is asked to send ``Move`` to its followers once
(``interop/activitypub/homemove.py``). Moving back to an old address forgets that move.

The history is a small file in the data dir (``activitypub-address.json``): per site, the
current address, the moves (old address → new address, when the Move was sent) and when each
old actor last sent a Move (Mastodon's 30-day cooldown).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from homeport import jsonio

FILE = "activitypub-address.json"
ACTOR_PATH = "/activitypub/actor"


@dataclass(frozen=True)
class ActorLinks:
    """What a build's actor says about the site's other addresses."""

    also_known_as: tuple[str, ...] = ()
    moved_to: str | None = None


def address_of(value: str) -> str:
    """An address as the history keeps it: ``scheme://host[:port]/`` (a site is at a root)."""
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc.lower()}/"


def actor_of(address: str) -> str:
    return urljoin(address, ACTOR_PATH)


def _path(data_dir: Path) -> Path:
    return data_dir / FILE


def read(data_dir: Path) -> dict[str, Any]:
    try:
        found = jsonio.loads(_path(data_dir).read_bytes())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write(data_dir: Path, state: Mapping[str, Any]) -> None:
    path = _path(data_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(jsonio.dumps(dict(state)))
    os.replace(tmp, path)


def served(providers: Sequence[Mapping[str, Any]]) -> list[str]:
    """The addresses the home's providers serve the site at, the site's own first."""
    found = [address_of(str(e["site"])) for e in providers if e.get("site")]
    return list(dict.fromkeys(found))


def step(entry: Mapping[str, Any], addresses: Sequence[str]) -> dict[str, Any]:
    """A site's history after a publish to ``addresses`` (pure): a new first address while the
    recorded one is still served is a move; an address moved back to is no longer moved."""
    moves = {str(k): dict(v) for k, v in (entry.get("moves") or {}).items()
             if isinstance(v, Mapping)}
    recorded = entry.get("address")
    current = addresses[0] if addresses else recorded
    if isinstance(recorded, str) and current != recorded and recorded in addresses:
        moves[recorded] = {"to": current, "sent": None}
    if isinstance(current, str):
        moves.pop(current, None)
    return {**entry, "address": current, "moves": moves}


def links(entry: Mapping[str, Any], address: str) -> ActorLinks:
    """The actor links of the build for ``address``."""
    moves: Mapping[str, Any] = entry.get("moves") or {}
    aka = tuple(actor_of(old) for old, move in sorted(moves.items()) if move.get("to") == address)
    target = moves.get(address, {}).get("to")
    return ActorLinks(aka, actor_of(target) if isinstance(target, str) else None)


def note(data_dir: Path, site: str, providers: Sequence[Mapping[str, Any]]
         ) -> dict[str, ActorLinks]:
    """Record this publish's addresses of ``site``; each address's actor links."""
    addresses = served(providers)
    if not addresses:
        return {}
    state = read(data_dir)
    before = state.get(site)
    entry = step(before if isinstance(before, Mapping) else {}, addresses)
    if entry != before:
        write(data_dir, {**state, site: entry})
    return {address: links(entry, address) for address in addresses}


__all__ = ["ActorLinks", "actor_of", "address_of", "links", "note", "read", "served", "step",
           "write"]
