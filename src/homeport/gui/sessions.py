"""GUI sessions and CSRF tokens (the login limit is ``services.logins``, shared with the API).

Every visitor gets a session (anonymous until login) so the login form has a CSRF token too;
logging in replaces the session id (no fixation). Logged-in sessions survive a restart: the
cookie is the session id signed with a key kept in the data dir (``gui-session.key``), and the
data dir's ``gui-sessions.json`` keeps, per session, only a hash of its id, its user, CSRF token
and times, never the id itself, a flash message or a secret (the recovery phrase stays in
memory). A forged or altered cookie is refused by its signature before any lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport import jsonio
from homeport.services.context import Context

COOKIE = "homeport_session"
IDLE_MS = 12 * 3600 * 1000
LIFETIME_MS = 7 * 24 * 3600 * 1000
MAX_SESSIONS = 5000
KEY_FILE = "gui-session.key"
SESSIONS_FILE = "gui-sessions.json"
SEEN_WRITE_MS = 5 * 60 * 1000
"""How stale the saved "last seen" time may get before it is written again."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class Session:
    id: str
    csrf: str
    created: int
    seen: int
    user: str | None = None
    flash: list[str] = field(default_factory=list)
    secrets: dict[str, Any] = field(default_factory=dict)
    saved_seen: int = 0

    def expired(self, now: int) -> bool:
        return now - self.seen > IDLE_MS or now - self.created > LIFETIME_MS

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


class SessionStore:
    """Sessions by the hash of their id, oldest evicted first past ``MAX_SESSIONS``; logged-in
    ones saved in ``folder`` (when given) so a restart keeps them."""

    def __init__(self, folder: Path | None = None) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._folder = folder
        self._key = _load_key(folder) if folder is not None else secrets.token_bytes(32)
        self._load()

    def cookie(self, session: Session) -> str:
        """The cookie's value: the id and its signature."""
        sig = hmac.new(self._key, session.id.encode(), hashlib.sha256).hexdigest()
        return f"{session.id}.{sig}"

    def _verified_id(self, value: str) -> str | None:
        session_id, _, sig = value.rpartition(".")
        want = hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()
        return session_id if session_id and hmac.compare_digest(sig, want) else None

    def new(self, now: int, user: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, user)
        self._sessions[_hash(session.id)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, cookie: str | None, now: int) -> tuple[Session | None, bool]:
        """The live session and whether a cookie named one that has expired or is unknown."""
        if not cookie:
            return None, False
        session_id = self._verified_id(cookie)
        if session_id is None:
            return None, True
        key = _hash(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None, True
        if session.expired(now):
            del self._sessions[key]
            if session.user:
                self._save()
            return None, True
        session.id = session_id  # a session loaded from disk learns its id from its cookie
        session.seen = now
        self._sessions.move_to_end(key)
        if session.user and now - session.saved_seen > SEEN_WRITE_MS:
            self._save()
        return session, False

    def drop(self, session: Session) -> None:
        if self._sessions.pop(_hash(session.id), None) is not None and session.user:
            self._save()

    def login(self, old: Session, user: str, now: int) -> Session:
        """A fresh session for ``user``; the old id stops working."""
        self.drop(old)
        fresh = self.new(now, user)
        fresh.secrets.update(old.secrets)
        self._save()
        return fresh

    def drop_user(self, user: str) -> None:
        """Log ``user`` out everywhere (after a password change)."""
        for key in [k for k, s in self._sessions.items() if s.user == user]:
            del self._sessions[key]
        self._save()

    def _save(self) -> None:
        if self._folder is None:
            return
        rows = []
        for key, s in self._sessions.items():
            if s.user:
                s.saved_seen = s.seen
                rows.append({"hash": key, "user": s.user, "csrf": s.csrf,
                             "created": s.created, "seen": s.seen})
        path = self._folder / SESSIONS_FILE
        with contextlib.suppress(OSError):  # a read-only disk costs a login, nothing more
            _write_private(path, jsonio.dumps({"sessions": rows}))

    def _load(self) -> None:
        if self._folder is None:
            return
        try:
            rows = jsonio.loads((self._folder / SESSIONS_FILE).read_bytes())["sessions"]
            for row in rows:
                session = Session("", str(row["csrf"]), int(row["created"]), int(row["seen"]),
                                  str(row["user"]), saved_seen=int(row["seen"]))
                self._sessions[str(row["hash"])] = session
        except (OSError, ValueError, KeyError, TypeError):
            return  # missing or damaged: everyone logs in again


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only, whole or not at all."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _load_key(folder: Path) -> bytes:
    path = folder / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_private(path, key)
    except OSError:
        pass  # sessions then last as long as this process
    return key


def store_of(ctx: Context) -> SessionStore:
    found = ctx.caches.get("gui_sessions")
    if not isinstance(found, SessionStore):
        found = ctx.caches["gui_sessions"] = SessionStore(ctx.settings.data_dir)
    return found
