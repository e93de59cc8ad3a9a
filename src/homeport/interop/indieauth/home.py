"""At the home: sign-ins a provider asks the owner to approve (inbox kind ``indieauth.signin``)
while the home is online. They are kept for the few minutes they live in a small file in the
data dir (``indieauth-signins.json``), listed on the admin page's Sign-in screen, and answered
there with an ``indieauth-approval`` delegation (``gui/signin.py``)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeport.core.errors import InvalidParameters
from homeport.interop.ports import InboxItem

PENDING_FILE = "indieauth-signins.json"
MAX_PENDING = 100
_lock = threading.Lock()


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / PENDING_FILE


def _read(data_dir: Path) -> list[dict[str, Any]]:
    try:
        found = json.loads(_path(data_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []


def _write(data_dir: Path, pending: list[dict[str, Any]]) -> None:
    path = _path(data_dir)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(pending), "utf-8")
    os.replace(temporary, path)


def pending(data_dir: Path, now: int) -> list[dict[str, Any]]:
    """The sign-ins still waiting for an answer, oldest first."""
    with _lock:
        return [p for p in _read(data_dir) if p.get("expires", 0) > now]


def take(data_dir: Path, nonce: str, now: int) -> dict[str, Any] | None:
    """The sign-in ``nonce``, no longer pending (it is being answered), or None."""
    with _lock:
        found = [p for p in _read(data_dir) if p.get("expires", 0) > now]
        chosen = next((p for p in found if p.get("nonce") == nonce), None)
        if chosen is not None:
            _write(data_dir, [p for p in found if p is not chosen])
        return chosen


def _checked(meta: Mapping[str, Any]) -> dict[str, Any]:
    text = {k: meta.get(k) for k in ("nonce", "client_id", "redirect_uri")}
    scope, expires = meta.get("scope"), meta.get("expires")
    if not all(isinstance(v, str) and 0 < len(v) <= 2048 for v in text.values()):
        raise InvalidParameters("a sign-in request names its nonce, client and redirect")
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise InvalidParameters("a sign-in request's scope is a list")
    if not isinstance(expires, int):
        raise InvalidParameters("a sign-in request has an expiry")
    provider = meta.get("provider")
    return {
        **text,
        "scope": scope[:32],
        "expires": expires,
        "provider": provider if isinstance(provider, str) else None,
    }


def signin_requested(ctx: Any, item: InboxItem) -> Mapping[str, Any]:
    """List it for the owner (once: keyed by its nonce). One that expired while the home was
    off is dropped: nobody waits for it any more."""
    found = _checked(item.meta)
    now = ctx.clock()
    with _lock:
        kept = [p for p in _read(ctx.settings.data_dir) if p.get("expires", 0) > now]
        if found["expires"] > now and all(p.get("nonce") != found["nonce"] for p in kept):
            kept = [*kept, {**found, "received": item.received}][-MAX_PENDING:]
        _write(ctx.settings.data_dir, kept)
    return {"listed": found["expires"] > now}
