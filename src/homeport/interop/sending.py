"""Sending webmentions for what publishes change in the public entries (W3C Webmention §3.1).

The home keeps, in ``webmentions-sent.sqlite`` in its data dir (never in the signed repository:
the history is not published), the links each public entry had when they were last looked at,
and a queue with one row per (source, target). After a publish (``after_publish``, the seam of
``publish/hooks.py``) the next pass of the sender (``Sender.run``, a task of ``homeport serve``)
compares the site's public entries with what it kept: an entry that is new, changed or gone
gets a webmention for every link it has or had, so a receiver hears of additions, edits and
removals (the source then answers 404/410). Private entries and drafts are never read
(``render.model.load_site`` keeps only public ones), so none of their links leaves the home.

Each send discovers the target's endpoint (``interop.discovery``, every fetch through the SSRF
guard) and POSTs ``source`` and ``target`` form-encoded. 2xx is done; 4xx (but 408 and 429) is a
failure the receiver decided; no endpoint is recorded as such; anything else (5xx, a timeout, a
refused connection) is tried again after 5 s, 30 s, 2 min, 10 min, 1 h, then every 6 h, up to
``MAX_ATTEMPTS`` attempts. The queue is a file, so a restart resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from homeport import jsonio
from homeport.content import sites
from homeport.interop import discovery
from homeport.render.discovery import origin_of
from homeport.render.model import EntryView, load_site
from homeport.render.urls import safe_link
from homeport.render.variants import keeper
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.connection import SQLiteConnection, open_sqlite, transaction
from homeport.store.migrate import Plan, Step, migrate
from homeport.sync import providers
from homeport.web import outbound

log = logging.getLogger("homeport.webmention")

DB_FILE = "webmentions-sent.sqlite"
SCHEDULE = (5, 30, 120, 600, 3600, 6 * 3600)
"""Seconds before the second, third… attempt; the last one repeats."""
MAX_ATTEMPTS = 10
CONCURRENCY = 4
LINK_FIELDS = ("reply_to", "like_of", "repost_of", "url")
"""Entry fields that are links (a reply's, a like's, a repost's, a bookmark's target)."""

QUEUED, SENT, FAILED, NO_ENDPOINT = "queued", "sent", "failed", "no-endpoint"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    targets TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    endpoint TEXT,
    status INTEGER,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    detail TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS sends_pair ON sends (source, target);
CREATE INDEX IF NOT EXISTS sends_due ON sends (state, next_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


PLAN = Plan(DB_FILE, (Step(1, "sources and sends", SCHEMA),), baseline=SCHEMA)
"""``store/migrate.py``: a file from before versions were kept is adopted as it is."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Send:
    """One (source, target) pair and its latest outcome: what the GUI's history shows."""

    id: int
    source: str
    target: str
    state: str
    endpoint: str | None
    status: int | None
    attempts: int
    next_at: int
    detail: str
    created: int
    updated: int


Links = Mapping[str, tuple[str, frozenset[str]]]
"""source URL → (its version, the targets it links)."""


P = ParamSpec("P")
R = TypeVar("R")


def _serialised(
    method: Callable[Concatenate[Outbox, P], R],
) -> Callable[Concatenate[Outbox, P], R]:
    """One call at a time on the connection: the sender calls from several worker threads,
    and closing it while another thread used it crashed the process (SIGSEGV in sqlite3)."""

    def run(outbox: Outbox, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with outbox._lock:
            if outbox._closed:
                raise RuntimeError("the webmention outbox is closed")
            return method(outbox, *args, **kwargs)

    run.__doc__ = method.__doc__
    return run


class Outbox:
    """The sender's file: what each source linked, and the queue of sends. Every method is
    one short transaction, one at a time whatever thread calls."""

    def __init__(self, path: Path) -> None:
        self.db: SQLiteConnection = open_sqlite(path, "busy_timeout=10000", "synchronous=NORMAL")
        try:
            migrate(self.db, PLAN)
        except BaseException:
            self.db.close()
            raise
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def of(cls, settings: Settings) -> Outbox:
        return cls(settings.data_dir / DB_FILE)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.db.close()

    # --- what to look at -------------------------------------------------------------------
    @_serialised
    def want_scan(self, head: str) -> None:
        """A publish made ``head`` live: the sender looks at the entries on its next pass."""
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('scan', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (head,),
        )

    @_serialised
    def scan_wanted(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'scan'").fetchone()
        return str(row[0]) if row else None

    @_serialised
    def scanned(self, head: str) -> None:
        """Done with ``head`` (a later publish's request stays)."""
        self.db.execute("DELETE FROM meta WHERE key = 'scan' AND value = ?", (head,))

    # --- the diff --------------------------------------------------------------------------
    @_serialised
    def apply(self, current: Links, now: int) -> int:
        """Queue a send for every link of each source that is new, changed or gone since the
        last call, and keep ``current`` for the next; how many sends were queued."""
        queued = 0
        with transaction(self.db):
            kept = {
                str(source): (str(version), frozenset(jsonio.loads(targets)))
                for source, version, targets in self.db.execute(
                    "SELECT source, version, targets FROM sources"
                )
            }
            for source in kept.keys() | current.keys():
                before = kept.get(source)
                after = current.get(source)
                if before is not None and after is not None and before[0] == after[0]:
                    continue
                targets = (before[1] if before else frozenset()) | (
                    after[1] if after else frozenset()
                )
                for target in sorted(targets):
                    self._queue(source, target, now)
                    queued += 1
                if after is None:
                    self.db.execute("DELETE FROM sources WHERE source = ?", (source,))
                else:
                    self.db.execute(
                        "INSERT INTO sources (source, version, targets) VALUES (?, ?, ?)"
                        " ON CONFLICT (source) DO UPDATE SET version = excluded.version,"
                        " targets = excluded.targets",
                        (source, after[0], jsonio.dumps(sorted(after[1])).decode()),
                    )
        return queued

    def _queue(self, source: str, target: str, now: int) -> None:
        self.db.execute(
            "INSERT INTO sends (source, target, state, attempts, next_at, detail, created,"
            " updated) VALUES (?, ?, 'queued', 0, ?, '', ?, ?)"
            " ON CONFLICT (source, target) DO UPDATE SET state = 'queued', attempts = 0,"
            " next_at = excluded.next_at, detail = '', updated = excluded.updated",
            (source, target, now, now, now),
        )

    # --- the queue -------------------------------------------------------------------------
    @_serialised
    def due(self, now: int, limit: int = 100) -> list[Send]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM sends WHERE state = 'queued' AND next_at <= ?"
            " ORDER BY next_at, id LIMIT ?",
            (now, limit),
        )
        return [Send(*row) for row in rows]

    @_serialised
    def next_due(self) -> int | None:
        row = self.db.execute("SELECT MIN(next_at) FROM sends WHERE state = 'queued'").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    @_serialised
    def record(self, send: Send, outcome: Outcome, now: int) -> None:
        attempts = send.attempts + 1
        state = outcome.state
        next_at = now
        if state == QUEUED:
            if attempts >= MAX_ATTEMPTS:
                state = FAILED
            else:
                next_at = now + 1000 * SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
        self.db.execute(
            "UPDATE sends SET state = ?, endpoint = ?, status = ?, attempts = ?, next_at = ?,"
            " detail = ?, updated = ? WHERE id = ? AND updated = ?",
            (
                state,
                outcome.endpoint,
                outcome.status,
                attempts,
                next_at,
                outcome.detail[:500],
                now,
                send.id,
                send.updated,
            ),
        )  # a send re-queued meanwhile (a newer publish) keeps its new state

    @_serialised
    def history(self, limit: int = 200) -> list[Send]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM sends ORDER BY updated DESC, id DESC LIMIT ?", (limit,)
        )
        return [Send(*row) for row in rows]


_COLUMNS = (
    "id, source, target, state, endpoint, status, attempts, next_at, detail, created, updated"
)


# --- what the public entries link ----------------------------------------------------------
class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.found.append(href)


def entry_links(entry: EntryView, source: str) -> frozenset[str]:
    """The absolute http(s) links of an entry's content and link fields, other sites only."""
    parser = _Hrefs()
    parser.feed(str(entry.html))
    parser.close()
    candidates = list(parser.found)
    for name in LINK_FIELDS:
        if name == "url" and entry.type != "bookmark":
            continue
        value = entry.data.get(name)
        for item in value if isinstance(value, list) else [value]:
            link = safe_link(item)
            if link:
                candidates.append(link)
    own = origin_of(source)
    found = set()
    for link in candidates:
        absolute = urljoin(source, link.strip())
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname and origin_of(absolute) != own:
            found.add(absolute)
    return frozenset(found)


def site_address(settings: Settings) -> tuple[str, dict[str, Any]] | None:
    """The address the site is published at (the first provider that gave one) and that
    provider's rules: sources are named there."""
    try:
        entries = providers.load(settings.data_dir)
    except providers.ProvidersError:
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("site"):
            return str(entry["site"]), dict(entry.get("rules") or {})
    return None


async def public_links(ctx: Context) -> Links:
    """source URL → (version, targets) for every public entry of every site, as published."""
    found = site_address(ctx.settings)
    if found is None:
        return {}
    address, rules = found
    keep = keeper(rules)
    base = address.rstrip("/")
    links: dict[str, tuple[str, frozenset[str]]] = {}
    for name in await sites.list_sites(ctx):
        model = await load_site(ctx, name)
        for entry in model.entries:
            if keep is not None and not keep(entry):
                continue
            source = base + entry.path
            links[source] = (entry.full, entry_links(entry, source))
    return links


# --- one send ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    state: str
    endpoint: str | None = None
    status: int | None = None
    detail: str = ""


RETRY_STATUSES = frozenset({408, 425, 429})


async def send_one(source: str, target: str, permitted: outbound.Permitted) -> Outcome:
    """Discover ``target``'s endpoint and POST the webmention there."""
    try:
        page = await outbound.fetch(
            target,
            permitted=permitted,
            limit=discovery.PAGE_LIMIT,
            max_redirects=5,
            accept=discovery.ACCEPT,
        )
    except outbound.FetchRefused as exc:
        return Outcome(FAILED, detail=f"target refused: {exc}")
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        return Outcome(QUEUED, detail=f"target unreachable: {type(exc).__name__} {exc}")
    if page.status in RETRY_STATUSES or page.status >= 500:
        return Outcome(QUEUED, status=page.status, detail="the target page is unavailable")
    endpoint = discovery.from_response(page, "webmention") if page.status < 400 else None
    if endpoint is None:
        return Outcome(NO_ENDPOINT, detail="the target names no webmention endpoint")
    body = httpx.QueryParams({"source": source, "target": target})
    try:
        answer = await outbound.exchange(
            "POST",
            endpoint,
            permitted=permitted,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            content=str(body).encode(),
            limit=16 * 1024,
        )
    except outbound.FetchRefused as exc:
        return Outcome(FAILED, endpoint, detail=f"endpoint refused: {exc}")
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        return Outcome(QUEUED, endpoint, detail=f"endpoint unreachable: {type(exc).__name__}")
    status = answer.status
    text = answer.body[:200].decode("utf-8", "replace")
    if 200 <= status < 300:
        return Outcome(SENT, endpoint, status, answer.headers.get("location") or "")
    if status in RETRY_STATUSES or status >= 500:
        return Outcome(QUEUED, endpoint, status, text)
    return Outcome(FAILED, endpoint, status, text)


# --- the task ------------------------------------------------------------------------------
class Sender:
    """The sending loop of a running home: looks at the entries after each publish, sends
    what is due, sleeps until the next retry or a wake-up (at most ``poll`` seconds, so a
    publish by another process is seen)."""

    def __init__(self, ctx: Context, poll: float = 1.0, clock: Callable[[], int] = now_ms) -> None:
        self.ctx = ctx
        self.poll = poll
        self.clock = clock
        self._outbox: Outbox | None = None
        self.permitted = outbound.policy(ctx.settings.fetch_allow_private)
        self.wake = asyncio.Event()

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None
        return self._outbox

    def _opened(self) -> bool:
        """The file is opened once a publish made it: a home that never published (and
        every test home) gets no file and costs a stat a second."""
        if self._outbox is None and (self.ctx.settings.data_dir / DB_FILE).exists():
            self._outbox = Outbox.of(self.ctx.settings)
        return self._outbox is not None

    async def run(self) -> None:
        try:
            while True:
                try:
                    if self._opened():
                        await self.step()
                except Exception:  # a bad pass is logged; the next one tries again
                    log.exception("webmention sending failed")
                await self._sleep()
        finally:
            if self._outbox is not None:
                self._outbox.close()

    async def _sleep(self) -> None:
        due = await asyncio.to_thread(self.outbox.next_due) if self._outbox else None
        delay = self.poll
        if due is not None:
            delay = min(delay, max(0.0, (due - self.clock()) / 1000))
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), delay)

    async def step(self) -> int:
        """One pass: scan if a publish asked, then send what is due; how many were sent."""
        head = await asyncio.to_thread(self.outbox.scan_wanted)
        if head is not None:
            links = await public_links(self.ctx)
            queued = await asyncio.to_thread(self.outbox.apply, links, self.clock())
            await asyncio.to_thread(self.outbox.scanned, head)
            if queued:
                log.info("%d webmentions to send after publishing %s", queued, head[:12])
        due = await asyncio.to_thread(self.outbox.due, self.clock())
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(send: Send) -> None:
            async with gate:
                outcome = await send_one(send.source, send.target, self.permitted)
            await asyncio.to_thread(self.outbox.record, send, outcome, self.clock())

        await asyncio.gather(*(one(s) for s in due))
        return len(due)


def after_publish(event: Any) -> None:
    """The after-publish callback: note the published head for the sender (quick, durable;
    the sending happens in ``homeport serve``'s ``Sender``)."""
    settings: Settings = event.settings
    outbox = Outbox.of(settings)
    try:
        outbox.want_scan(str(event.head))
    finally:
        outbox.close()
    sender = _running.get(str(settings.data_dir))
    if sender is not None:
        loop, woken = sender
        loop.call_soon_threadsafe(woken.set)


_running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
"""data dir → the running sender's loop and wake-up event, in this process."""


async def run_sender(ctx: Context) -> None:
    """``homeport serve``'s task."""
    sender = Sender(ctx)
    key = str(ctx.settings.data_dir)
    _running[key] = (asyncio.get_running_loop(), sender.wake)
    try:
        await sender.run()
    finally:
        _running.pop(key, None)


def history(settings: Settings, limit: int = 200) -> list[Send]:
    """The latest sends, newest first (the GUI's page); none before the first publish."""
    if not (settings.data_dir / DB_FILE).exists():
        return []
    outbox = Outbox.of(settings)
    try:
        return outbox.history(limit)
    finally:
        outbox.close()


def as_dicts(sends: Iterable[Send]) -> list[dict[str, Any]]:
    return [s.__dict__.copy() for s in sends]
