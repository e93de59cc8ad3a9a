"""The home's side of the inbox relay: while ``homeport serve`` runs, one outbound connection to
each provider takes the tenant's inbox in order, applies each item through its protocol's
handler, and acknowledges it in the next signed request (``docs/protocol.md``, "Inbox and
relay").

Three parts, so the protocol logic is tested without a network:

- ``Session``: the state of one provider's relay, no I/O: the cursor, the acks not yet taken
  by the provider, the backoff (bounded, jittered) after failures.
- ``AppliedLog``: the ids applied at this home and their results (``inbox.sqlite`` in the data
  dir). An id is recorded once its handler returned, before it is acknowledged, so after a
  kill -9 a redelivered item is acknowledged again with its recorded result instead of being
  applied again; an item killed mid-apply is applied again, which handlers make harmless
  (their record ids derive from the item's id).
- ``ProviderRelay`` / ``Relays``: the drivers: long polls with httpx, handlers in worker
  threads, one task per enrolled provider.

Delivery is at least once and in order: a handler that fails with anything but a
``HomeportError`` stops its provider's relay at that item, to be retried after a backoff (a
Micropub update must not be applied before its create).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from homeport import jsonio
from homeport.core.errors import HomeportError
from homeport.crypto.boxes import BoxError, box_key, open_box, public_bytes
from homeport.crypto.keys import did_key
from homeport.interop import registry
from homeport.interop.ports import Handler, InboxItem
from homeport.services import handoff
from homeport.services.context import Context
from homeport.services.identity import IdentityStateError, repo_keys
from homeport.settings import Settings
from homeport.store.connection import open_sqlite
from homeport.store.migrate import Plan, Step, migrate
from homeport.sync import grants, providers
from homeport.sync.auth import authorization, origin
from homeport.sync.client import API, Credentials, normalise_url

log = logging.getLogger("homeport.relay")

LOG_FILE = "inbox.sqlite"
WAIT_MS = 25_000
"""How long the provider holds a poll open when the inbox is empty: under the minute a front
proxy gives an idle upstream, over enough to cost little."""
LIMIT = 200
MAX_ANSWER = 64 * 1024 * 1024
"""Largest answer a home reads from a provider's inbox (the provider sends about 8 MiB)."""
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 60.0
KEEP_APPLIED_MS = 90 * 24 * 3600 * 1000
"""Applied ids are remembered this long after their ack: a provider redelivers only what it has
not seen acknowledged, so this is far more than any redelivery needs."""


# --- the protocol, no I/O --------------------------------------------------------------------
@dataclass(frozen=True)
class Poll:
    """One request: the acks it carries, the cursor, how long the provider may hold it."""

    after: int
    ack: tuple[tuple[str, Mapping[str, Any]], ...]
    wait: int
    limit: int
    seal: str | None = None

    def body(self) -> dict[str, Any]:
        acks = [{"id": item_id, "result": dict(result)} for item_id, result in self.ack]
        doc = {"after": self.after, "ack": acks, "wait": self.wait, "limit": self.limit}
        if self.seal is not None:
            doc["seal"] = self.seal
        return doc


@dataclass(frozen=True)
class Received:
    seq: int
    item: InboxItem
    sealed: bool = False
    """The body is a box sealed to this home's key (``crypto/boxes.py``), still closed."""


@dataclass
class Session:
    """One provider's relay state. ``after`` is the last item this session has dealt with
    (applied, rejected or skipped); a new session (a new process) starts from 0 and the
    provider sends every item not yet acknowledged."""

    wait: int = WAIT_MS
    limit: int = LIMIT
    rng: Callable[[], float] = random.random
    seal: str | None = None
    """This home's box key (base64url), named in every poll: bodies are sealed to it."""
    after: int = 0
    acks: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    failures: int = 0
    stopped: str | None = None
    """Why this relay gave up for good (the tenant was deleted), or None."""
    _sent: tuple[str, ...] = ()

    def request(self) -> Poll:
        """The next poll. Acks ride on it (the provider records them before it waits for
        items) until the provider answers it; a poll that fails leaves them to the next
        (acknowledging twice changes nothing)."""
        self._sent = tuple(self.acks)
        ack = tuple((i, self.acks[i]) for i in self._sent)
        return Poll(self.after, ack, self.wait, self.limit, self.seal)

    def answered(self, doc: Any) -> list[Received]:
        """The provider's answer: its acks are done; the items to apply, in order. Raises
        ValueError for an answer that is not what the protocol says."""
        for item_id in self._sent:
            self.acks.pop(item_id, None)
        self._sent = ()
        self.failures = 0
        if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
            raise ValueError("the provider's answer has no 'items' list")
        out: list[Received] = []
        for raw in doc["items"]:
            found = parse_item(raw)
            if found.seq <= self.after or (out and found.seq <= out[-1].seq):
                raise ValueError("the provider sent items out of order")
            out.append(found)
        return out

    def applied(self, received: Received, result: Mapping[str, Any]) -> None:
        """Applied (or rejected for good): acknowledge it with its result."""
        self.acks[received.item.id] = result
        self.after = received.seq

    def skipped(self, received: Received) -> None:
        """No handler knows its kind here (a newer provider, an older home): left at the
        provider, unacknowledged, for a home that knows it; asked again by the next session."""
        self.after = received.seq

    def failed(self) -> float:
        """Applying failed, or the poll did: wait this long (seconds) before the next poll,
        which starts again at the item that failed."""
        self.failures += 1
        self._sent = ()
        step = min(BACKOFF_MAX, BACKOFF_FIRST * float(2 ** min(self.failures - 1, 16)))
        return step * (0.5 + self.rng() / 2)

    def refused(self, status: int, code: str) -> float:
        """The provider refused the poll. A deleted tenant stops the relay; anything else
        (suspended, clock off, a provider down) is retried with backoff."""
        if status == 410:
            self.stopped = code or "deleted"
        return self.failed()


def parse_item(raw: Any) -> Received:
    try:
        seq, item_id, kind = raw["seq"], raw["id"], raw["kind"]
        meta, body, received = raw["meta"], raw["body"], raw["received"]
        sealed = raw.get("sealed", False)
        ok = (
            isinstance(sealed, bool)
            and isinstance(seq, int)
            and isinstance(item_id, str)
            and isinstance(kind, str)
            and isinstance(meta, dict)
            and isinstance(body, str)
            and isinstance(received, int)
        )
        if not ok:
            raise TypeError
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (KeyError, TypeError, ValueError):
        raise ValueError("the provider sent an item that is not one") from None
    return Received(seq, InboxItem(item_id, kind, meta, data, received), sealed)


def rejected(exc: HomeportError) -> dict[str, Any]:
    """The result acknowledging an item its handler refused for good."""
    return {"error": {"status": exc.code, "errno": int(exc.errno), "message": str(exc)}}


# --- what this home applied ------------------------------------------------------------------
_LOG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS applied (id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " result TEXT NOT NULL, applied INTEGER NOT NULL) WITHOUT ROWID;"
    " CREATE INDEX IF NOT EXISTS applied_time ON applied (applied);"
)
_LOG_PLAN = Plan(LOG_FILE, (Step(1, "applied ids", _LOG_SCHEMA),), baseline=_LOG_SCHEMA)
"""``store/migrate.py``: a log from before versions were kept is adopted as it is."""


class AppliedLog:
    """Ids applied here and their results, in ``inbox.sqlite`` (committed before the ack)."""

    def __init__(self, data_dir: Path) -> None:
        self._db = open_sqlite(data_dir / LOG_FILE, "synchronous=NORMAL", "busy_timeout=10000")
        try:
            migrate(self._db, _LOG_PLAN)
        except BaseException:
            self._db.close()
            raise
        self._lock = threading.Lock()

    def result(self, item_id: str) -> Mapping[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM applied WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            return None
        found: dict[str, Any] = jsonio.loads(row[0])
        return found

    def record(self, item_id: str, kind: str, result: Mapping[str, Any], now: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO applied VALUES (?, ?, ?, ?)",
                (item_id, kind, jsonio.dumps_text(dict(result)), now),
            )

    def forget_before(self, when: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM applied WHERE applied < ?", (when,))

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM applied").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- the drivers -----------------------------------------------------------------------------
class ProviderRelay:
    """One provider's relay: polls, applies, acknowledges, until cancelled or stopped."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        handlers: Mapping[str, Handler],
        applied: AppliedLog,
        context: Any,
        http: httpx.AsyncClient,
        session: Session | None = None,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
        box: X25519PrivateKey | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self.audience = origin(self.url)
        self.credentials = credentials
        self.handlers = handlers
        self.applied = applied
        self.context = context
        self.http = http
        self.session = session or Session()
        self.clock = clock
        self.box = box
        """This home's box key: bodies sealed to it are opened here, and every poll names it."""
        if box is not None:
            public = base64.urlsafe_b64encode(public_bytes(box)).decode().rstrip("=")
            self.session.seal = public
        self.count = 0
        """Items applied (or rejected) by this relay: what tests and the benchmark watch."""

    async def run(self) -> None:
        await self.hand_grants()
        while self.session.stopped is None:
            delay = await self.step()
            if delay:
                await asyncio.sleep(delay)
        log.warning("relay to %s stopped: %s", self.url, self.session.stopped)

    async def hand_grants(self) -> None:
        """On connecting, hand the provider this home's grants again (``sync/grants.py``): one
        that missed a change while the home was off catches up now. Never stops the relay."""
        if not isinstance(self.context, Context):
            return
        try:
            for pushed in await grants.sync(self.context, only=self.url):
                if pushed.error:
                    log.info("relay to %s: grants not handed: %s", self.url, pushed.error)
        except Exception as exc:  # the next connection or publish tries again
            log.warning("relay to %s: grants not handed: %s", self.url, exc)

    async def step(self) -> float:
        """One poll and what it brought; how long to wait before the next (seconds)."""
        poll = self.session.request()
        body = jsonio.dumps(poll.body())
        target = f"{API}/inbox"
        headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            "Authorization": authorization(
                self.credentials.key,
                self.credentials.did,
                "POST",
                target,
                body,
                audience=self.audience,
                now_ms=self.clock(),
            ),
        }
        timeout = httpx.Timeout(poll.wait / 1000 + 30, connect=10)
        request = self.http.build_request(
            "POST", self.url + target, content=body, headers=headers, timeout=timeout
        )
        try:
            status, doc = await self._send(request)
        except httpx.HTTPError as exc:
            delay = self.session.failed()
            log.info("relay to %s: %s; again in %.1fs", self.url, exc, delay)
            return delay
        except ValueError as exc:
            delay = self.session.failed()
            log.warning("relay to %s: %s; again in %.1fs", self.url, exc, delay)
            return delay
        if status != 200:
            code = str(doc.get("error", "")) if isinstance(doc, dict) else ""
            if (
                code == "not-primary"
                and isinstance(doc, dict)
                and isinstance(self.context, Context)
            ):
                # another copy became the primary: this one is a standby from now on
                with contextlib.suppress(OSError, ValueError, IdentityStateError):
                    handoff.keep(self.context.settings.data_dir, doc.get("handoff"))
            delay = self.session.refused(status, code)
            log.warning(
                "relay to %s refused (%s %s); again in %.1fs", self.url, status, code, delay
            )
            return delay
        try:
            items = self.session.answered(doc)
        except ValueError as exc:
            delay = self.session.failed()
            log.warning("relay to %s: %s; again in %.1fs", self.url, exc, delay)
            return delay
        for received in items:
            if not await self.apply(received):
                delay = self.session.failed()
                return delay
        return 0.0

    async def _send(self, request: httpx.Request) -> tuple[int, Any]:
        """The answer's status and JSON, read as sent and at most ``MAX_ANSWER`` bytes: a
        provider may be hostile, and a compressed answer (which the home never asks for)
        would be inflated without bound. Raises ValueError for such an answer."""
        response = await self.http.send(request, stream=True)
        try:
            coding = response.headers.get("content-encoding", "").strip().lower()
            if coding not in ("", "identity"):
                raise ValueError(f"the provider sent a {coding}-encoded answer: refused unread")
            raw = bytearray()
            async for piece in response.aiter_raw():
                raw += piece
                if len(raw) > MAX_ANSWER:
                    raise ValueError(f"the provider's answer is over {MAX_ANSWER} bytes: refused")
        finally:
            await response.aclose()
        try:
            doc = jsonio.loads(bytes(raw))
        except ValueError:
            if response.status_code == 200:
                raise ValueError("the provider's answer is not JSON") from None
            doc = {}
        return response.status_code, doc

    async def apply(self, received: Received) -> bool:
        """Apply one item (once: its recorded result if this home applied it before); False
        when it failed and must be tried again later."""
        item = received.item
        handler = self.handlers.get(item.kind)
        if handler is None:
            log.warning("relay: no handler for inbox items of kind %r: left", item.kind)
            self.session.skipped(received)
            return True
        try:
            result = await anyio.to_thread.run_sync(self._apply_once, handler, received)
        except Exception:
            log.exception("relay: applying %s (%s) failed; it will be retried", item.id, item.kind)
            return False
        self.session.applied(received, result)
        self.count += 1
        return True

    def _apply_once(self, handler: Handler, received: Received) -> Mapping[str, Any]:
        """In a worker thread: the recorded result, or open the body, run the handler and
        record its result. A body that does not open is rejected (it was damaged or forged
        at the provider)."""
        item = received.item
        known = self.applied.result(item.id)
        if known is not None:
            return known
        try:
            if received.sealed:
                item = self.opened(item)
            result = dict(handler(self.context, item))
        except HomeportError as exc:
            result = rejected(exc)
        self.applied.record(item.id, item.kind, result, self.clock())
        return result

    def opened(self, item: InboxItem) -> InboxItem:
        if self.box is None:
            raise HomeportError("this item is sealed and this home has no box key", code=400)
        try:
            body = open_box(self.box, item.body, associated(item.id, item.kind))
        except BoxError as exc:
            raise HomeportError(str(exc), code=400) from None
        return dataclasses.replace(item, body=body)


def associated(item_id: str, kind: str) -> bytes:
    """What the provider binds a sealed body to (``provider/inbox.py``): its item."""
    return f"homeport inbox\n{item_id}\n{kind}".encode()


class Relays:
    """Every enrolled provider's relay, for as long as ``homeport serve`` runs. The providers'
    list is read again every ``RESCAN_S``, so a provider enrolled meanwhile is dialled too."""

    RESCAN_S = 10.0

    def __init__(
        self,
        data_dir: Path,
        handlers: Mapping[str, Handler],
        context: Any,
        providers: Callable[[], list[str]],
        credentials: Callable[[], Credentials],
        box: Callable[[], X25519PrivateKey | None] = lambda: None,
    ) -> None:
        self.data_dir = data_dir
        self.handlers = handlers
        self.context = context
        self.providers = providers
        self.credentials = credentials
        self.box = box
        self.applied = AppliedLog(data_dir)
        self.running: dict[str, tuple[ProviderRelay, asyncio.Task[None]]] = {}
        self._http = httpx.AsyncClient(follow_redirects=False)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            try:
                self.rescan()
                self.applied.forget_before(int(time.time() * 1000) - KEEP_APPLIED_MS)
            except Exception:  # a damaged providers.json, a missing key: said, and retried
                log.exception("relay: cannot read this home's providers")
            await asyncio.sleep(self.RESCAN_S)

    def rescan(self) -> None:
        """Dial providers enrolled since, drop those left; after ``identity rotate`` (a new
        signing key in the data dir) every relay starts again with the new key."""
        wanted = {normalise_url(u) for u in self.providers()}
        credentials = self.credentials() if wanted else None
        for url in list(self.running):
            relay = self.running[url][0]
            if url not in wanted or (credentials and not _same(relay.credentials, credentials)):
                self.running.pop(url)[1].cancel()
        if credentials is None or not wanted - set(self.running):
            return
        box = self.box()
        for url in wanted - set(self.running):
            relay = ProviderRelay(
                url, credentials, self.handlers, self.applied, self.context, self._http, box=box
            )
            self.running[url] = (relay, asyncio.create_task(relay.run()))

    async def close(self) -> None:
        tasks = [t for t in (self._task, *(t for _, t in self.running.values())) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.running.clear()
        await self._http.aclose()
        self.applied.close()


def _same(a: Credentials, b: Credentials) -> bool:
    """The same identity and signing key (key objects do not compare by value)."""
    return a.did == b.did and did_key(a.key.public_key()) == did_key(b.key.public_key())


def start(
    settings: Settings, context: Any, protocols: tuple[ModuleType, ...] | None = None
) -> Relays | None:
    """The relays of ``homeport serve`` (None with ``inbox_relay`` off), applying with every
    protocol's handlers (``registry.home_handlers``): ``protocols``, the plugins' (the
    built-in ``live_web`` gives ``registry.PROTOCOLS``), else the registry's."""
    if not settings.inbox_relay:
        return None
    data_dir = settings.data_dir

    def urls() -> list[str]:
        return [str(entry["url"]) for entry in providers.load(data_dir)]

    relays = Relays(
        data_dir,
        registry.home_handlers(*(() if protocols is None else (protocols,))),
        context,
        urls,
        lambda: providers.credentials(data_dir),
        lambda: box_key(repo_keys(data_dir).data_key),
    )
    relays.start()
    return relays


__all__ = [
    "AppliedLog",
    "Poll",
    "ProviderRelay",
    "Received",
    "Relays",
    "Session",
    "parse_item",
    "rejected",
    "start",
]
