"""Moving an ActivityPub actor, by Mastodon's rules (pure: no I/O).

A site whose address changes (``name.provider-a`` → ``name.provider-b``, or to a custom domain)
has a new actor id. Followers' servers move their follows only when, as Mastodon checks:

- the ``Move`` is signed by the old actor and names it as both ``actor`` and ``object``;
- the ``target`` (fetched fresh) lists the old actor in ``alsoKnownAs``;
- the old actor has not had a Move processed in the last 7 days (the receiver's cooldown).

Mastodon also refuses to *send* a Move to itself, to a target that does not list the account
in ``alsoKnownAs``, to the target it already moved to, or sooner than 30 days after its last
move. The old actor's document then carries ``movedTo``, and the old address redirects to the
new one (``moved_location``), keeping only ActivityPub clients' requests for the old documents,
which followers' servers need to check the old actor's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
DAY_MS = 24 * 3600 * 1000
SEND_COOLDOWN_MS = 30 * DAY_MS
"""Mastodon's ``AccountMigration::COOLDOWN_PERIOD``: one move per account in 30 days."""
PROCESSING_COOLDOWN_MS = 7 * DAY_MS
"""Mastodon's ``ActivityPub::Activity::Move::PROCESSING_COOLDOWN``: a receiver acts on one
Move per origin account in 7 days and ignores the rest."""


class MoveRefused(ValueError):
    """A Move that must not be sent, or that a receiver ignores; ``code`` says which rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Move:
    id: str
    origin: str
    """The old actor: the activity's ``actor`` and ``object``."""
    target: str
    """The new actor."""


def _id(value: Any) -> str | None:
    """An ``@id``-valued property: a string, or an embedded object's ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _ids(value: Any) -> list[str]:
    """A property that may hold one value or a list of them (JSON-LD compaction drops the
    list around a single value: Mastodon accepts both)."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [found for found in (_id(item) for item in items) if found]


def _web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname) and not parts.fragment


def also_known_as(actor: Mapping[str, Any]) -> list[str]:
    return _ids(actor.get("alsoKnownAs"))


def move_activity(origin: str, target: str, number: int) -> dict[str, Any]:
    """The Move the old actor sends its followers, shaped as Mastodon's ``MoveSerializer``
    (id ``<actor>#moves/<n>``: unique per move, so a receiver's dedup keeps each)."""
    return {
        "@context": AS_CONTEXT,
        "id": f"{origin}#moves/{number}",
        "type": "Move",
        "actor": origin,
        "object": origin,
        "target": target,
    }


def check_outgoing(
    origin: str,
    target_doc: Mapping[str, Any],
    *,
    moved_to: str | None,
    last_move: int | None,
    now: int,
) -> str:
    """The target actor's id if ``origin`` may move to it now; ``MoveRefused`` otherwise.
    ``target_doc`` is the target actor as fetched; ``moved_to`` where ``origin`` already
    moved (None: never); ``last_move`` when (ms)."""
    target = _id(target_doc)
    if target is None or not _web_url(target):
        raise MoveRefused("bad-target", "the new address has no ActivityPub actor")
    if target == origin:
        raise MoveRefused("move-to-self", "an actor cannot move to itself")
    if moved_to == target:
        raise MoveRefused("already-moved", f"already moved to {target}")
    if origin not in also_known_as(target_doc):
        raise MoveRefused(
            "missing-also-known-as",
            f"{target} does not list {origin} in alsoKnownAs: publish the new address first",
        )
    if last_move is not None and now - last_move < SEND_COOLDOWN_MS:
        raise MoveRefused("cooldown", "an actor can move once in 30 days")
    return target


def parse_incoming(activity: Mapping[str, Any], signer: str) -> Move:
    """A received Move as Mastodon reads it: ``actor`` is the signer, ``object`` is the actor
    itself (moving someone else is ignored), ``target`` an actor URL."""
    if activity.get("type") != "Move":
        raise MoveRefused("not-a-move", "not a Move activity")
    actor = _id(activity.get("actor"))
    if actor is None or actor != signer:
        raise MoveRefused("wrong-actor", "a Move must be signed by the actor that moves")
    if _id(activity.get("object")) != actor:
        raise MoveRefused("not-self", "a Move must name its own actor as the object")
    target = _id(activity.get("target"))
    if target is None or not _web_url(target) or target == actor:
        raise MoveRefused("bad-target", "a Move needs a target actor other than itself")
    move_id = _id(activity)
    return Move(id=move_id or "", origin=actor, target=target)


def check_target(move: Move, target_doc: Mapping[str, Any]) -> None:
    """Mastodon's check of the freshly fetched target: it is the actor named, not suspended,
    and lists the origin in ``alsoKnownAs``."""
    if _id(target_doc) != move.target:
        raise MoveRefused("bad-target", "the target fetched is not the actor named")
    if target_doc.get("suspended") is True:
        raise MoveRefused("suspended", "the target is suspended")
    if move.origin not in also_known_as(target_doc):
        raise MoveRefused("missing-also-known-as",
                          "the target does not list the origin in alsoKnownAs")


def processing_allowed(last_processed: int | None, now: int) -> bool:
    """Whether a receiver acts on a Move from an origin last processed at ``last_processed``
    (ms; None: never)."""
    return last_processed is None or now - last_processed >= PROCESSING_COOLDOWN_MS


def moved_location(moved_to: str, path: str, query: str = "") -> str | None:
    """Where the old address sends a request for ``path`` once the site moved to the actor
    ``moved_to``: the same path on the new actor's origin (None when that is not a web URL)."""
    parts = urlsplit(moved_to)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    return f"{origin}{path if path.startswith('/') else '/' + path}" + (
        f"?{query}" if query else "")


__all__ = [
    "PROCESSING_COOLDOWN_MS",
    "SEND_COOLDOWN_MS",
    "Move",
    "MoveRefused",
    "also_known_as",
    "check_outgoing",
    "check_target",
    "move_activity",
    "moved_location",
    "parse_incoming",
    "processing_allowed",
]
