"""Which copy of this home is the primary, as this copy knows it (``core/handoff.py``).

``handoff.json`` in the data dir holds the latest handoff record this home signed or was shown
by a provider. When it names another key than this home's signing key, this home is a
**standby**: it keeps its data and serves it, but every write is refused with 409 (the API's
and the GUI's, which all go through ``services.writes``), saying where the home lives now.
A home that never moved has no file and is its own primary.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core import handoff as rules
from homeport.core.errors import HomeportError
from homeport.core.identity import signing_bytes
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign, verify
from homeport.services import identity as ids
from homeport.services.context import Context

HANDOFF_FILE = "handoff.json"
PENDING_FILE = "handoff.pending.json"
"""A handoff this home signed and has not yet seen a provider take: writes wait for it."""


class Standby(HomeportError):
    """A write reached a standby copy of the home."""

    code = 409
    title = "Conflict"


def load(data_dir: Path) -> rules.Handoff | None:
    """The handoff this home holds, checked against its identity; None when there is none."""
    path = data_dir / HANDOFF_FILE
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise ids.IdentityStateError(f"{path} is damaged: not a handoff record") from None
    try:
        return rules.parse(doc, ids.load(data_dir).did, verify)
    except rules.HandoffError as exc:
        raise ids.IdentityStateError(f"{path}: {exc}") from None


def keep(data_dir: Path, doc: Any) -> rules.Handoff | None:
    """Hold ``doc`` if it verifies and its epoch is above the one held; what is held after."""
    held = load(data_dir)
    try:
        new = rules.parse(doc, ids.load(data_dir).did, verify)
    except rules.HandoffError:
        return held
    if not rules.follows(held, new):
        return held
    _write(data_dir / HANDOFF_FILE, new.doc)
    return new


def signed(root: Ed25519PrivateKey, epoch: int, primary: str, where: str) -> dict[str, Any]:
    """A handoff record making ``primary`` the writer from ``epoch`` on, signed by the root."""
    doc = rules.unsigned(did_key(root.public_key()), epoch, primary, where, int(time.time() * 1000))
    return {**doc, "sig": sign(root, signing_bytes(doc))}


def mark_pending(data_dir: Path, record: dict[str, Any]) -> None:
    _write(data_dir / PENDING_FILE, record)


def clear_pending(data_dir: Path) -> None:
    (data_dir / PENDING_FILE).unlink(missing_ok=True)


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(doc, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def standby_of(data_dir: Path) -> rules.Handoff | None:
    """The handoff that makes another copy the primary, when this home is a standby."""
    held = load(data_dir)
    if held is None or held.primary == ids.load(data_dir).signing_key:
        return None
    return held


def standby_note(ctx: Context) -> str | None:
    """What a standby says about itself (None on the primary). Read once per change of the
    file (its mtime), so a write costs a ``stat`` or two. While a move to this copy is not
    finished (the pending mark), it is not the primary either."""
    if (ctx.settings.data_dir / PENDING_FILE).exists():
        return (
            "This copy of the home is not the primary yet: the provider has not taken the "
            "move. Finish it with 'homeport restore --from <provider>' (or the Restore page)."
        )
    path = ctx.settings.data_dir / HANDOFF_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    cached = ctx.caches.get("handoff")
    if cached is None or cached[0] != stamp:
        try:
            cached = (stamp, standby_of(ctx.settings.data_dir))
        except ids.IdentityStateError as exc:  # unreadable: safer to write nothing
            return f"This copy of the home cannot tell whether it is the primary: {exc}."
        ctx.caches["handoff"] = cached
    held: rules.Handoff | None = cached[1]
    if held is None:
        return None
    return (
        f"This copy of the home is a standby: since handoff {held.epoch} its primary is "
        f"{held.where or 'another device'}. Make changes there, or move the home back here "
        "with the recovery phrase."
    )


def require_primary(ctx: Context) -> None:
    """Refuse a write on a standby (409), saying where the home lives now."""
    note = standby_note(ctx)
    if note is not None:
        raise Standby(note)
