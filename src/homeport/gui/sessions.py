"""GUI sessions and CSRF tokens, kept in the home process's memory (the login limit is
``services.logins``, shared with the API).

Sessions live in memory on purpose: the home is one process, a restart only asks the owner to
log in again, and nothing secret reaches the disk. Every visitor gets a session (anonymous until
login) so the login form has a CSRF token too; logging in replaces the session id (no fixation).
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from homeport.services.context import Context

COOKIE = "homeport_session"
IDLE_MS = 12 * 3600 * 1000
LIFETIME_MS = 7 * 24 * 3600 * 1000
MAX_SESSIONS = 5000


@dataclass
class Session:
    id: str
    csrf: str
    created: int
    seen: int
    user: str | None = None
    flash: list[str] = field(default_factory=list)
    secrets: dict[str, Any] = field(default_factory=dict)

    def expired(self, now: int) -> bool:
        return now - self.seen > IDLE_MS or now - self.created > LIFETIME_MS

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


class SessionStore:
    """Sessions by id, oldest evicted first past ``MAX_SESSIONS``."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def new(self, now: int, user: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now, user)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None, now: int) -> tuple[Session | None, bool]:
        """The live session and whether a cookie named one that has expired or is unknown."""
        if not session_id:
            return None, False
        session = self._sessions.get(session_id)
        if session is None:
            return None, True
        if session.expired(now):
            del self._sessions[session_id]
            return None, True
        session.seen = now
        self._sessions.move_to_end(session_id)
        return session, False

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def login(self, old: Session, user: str, now: int) -> Session:
        """A fresh session for ``user``; the old id stops working."""
        self.drop(old)
        fresh = self.new(now, user)
        fresh.secrets.update(old.secrets)
        return fresh

    def drop_user(self, user: str) -> None:
        """Log ``user`` out everywhere (after a password change)."""
        for key in [k for k, s in self._sessions.items() if s.user == user]:
            del self._sessions[key]


def store_of(ctx: Context) -> SessionStore:
    found = ctx.caches.get("gui_sessions")
    if not isinstance(found, SessionStore):
        found = ctx.caches["gui_sessions"] = SessionStore()
    return found
