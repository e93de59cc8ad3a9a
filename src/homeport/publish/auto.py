"""The auto-publisher: while ``serve`` runs, every change reaches every provider in seconds.

What counts as a change is what a snapshot would pick up: the store's timestamps (one cheap
read, the same on SQLite and PostgreSQL) differ from the ones the last snapshot covered. That
catches writes from this process (the GUI, ``/v1``, the inbox) and from any other process on
the same data (``homeport add``, ``homeport mentions approve``): the store is polled every
``POLL_SECONDS``, and this process's own writes wake the publisher at once through the
context's change feed. A provider whose last publish did not reach the home's head (it was
down, or was just enrolled) is a change too.

A burst is coalesced: the publish starts after ``QUIET_SECONDS`` without a new change, and
never later than ``MAX_DELAY_SECONDS`` after the first one. Publishes go through
``publish.run.publish`` (its lock keeps ``homeport publish`` and this apart). A failed publish
stays pending and is retried with backoff; a new change is published at once whatever the
backoff, so one dead provider never holds the others up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeport.core.errors import HomeportError
from homeport.publish.lock import PublishBusy
from homeport.publish.run import Cursor, Report, publish
from homeport.repo.repository import RepositoryError
from homeport.repo.snapshot import PLURAL
from homeport.services import repository
from homeport.services.context import Context
from homeport.sync import providers

log = logging.getLogger("homeport.publish")

POLL_SECONDS = 0.5
QUIET_SECONDS = 0.75
MAX_DELAY_SECONDS = 3.0
BUSY_RETRY_SECONDS = 1.0
BACKOFF_SECONDS = (2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
PAUSE_FILE = "autopublish.json"
"""Where the GUI's switch is remembered (``{"paused": true}``) across restarts."""


def published_part(timestamps: Cursor) -> Cursor:
    """The timestamps a snapshot looks at (other pairs never make a commit)."""
    return {k: v for k, v in timestamps.items() if k[0] in PLURAL}


def plain(error: str) -> str:
    """A provider's error in words a person can act on."""
    lowered = error.lower()
    if "cannot reach the provider" in lowered or "timed out" in lowered:
        url = error.split(": ", 1)[0]
        return f"{url} could not be reached: it may be down, or this computer offline"
    return error


def said(outcome: providers.Outcome) -> str:
    """The default words for a failed provider (the GUI passes its own, ``gui/wording.py``)."""
    return plain(outcome.error or "")


@dataclass
class ProviderState:
    at: int | None = None
    ok: bool = True
    seq: int | None = None
    error: str | None = None


@dataclass
class AutoPublisher:
    ctx: Context
    http: providers.HttpFactory = providers.default_http
    say: Callable[[providers.Outcome], str] = said
    """How a provider's failure is told to a person."""
    poll: float = POLL_SECONDS
    quiet: float = QUIET_SECONDS
    max_delay: float = MAX_DELAY_SECONDS
    publishes: int = 0
    failures: int = 0
    publishing: bool = False
    first_change: float | None = None
    last_change: float | None = None
    retry_at: float | None = None
    failed_at: float | None = None
    busy_until: float | None = None
    last_error: str | None = None
    last_at: int | None = None
    waiting_for_other: bool = False
    results: dict[str, ProviderState] = field(default_factory=dict)
    covered: dict[str, Cursor] = field(default_factory=dict)
    """Per provider, the store timestamps its last successful publish from here covered."""
    _known: Cursor | None = None
    _head: str | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: bool = False
    """Nothing can be published now (no provider, off, paused, the store away): sleep a whole
    poll between looks even with changes waiting, or the loop spins (a due time of 0)."""

    # --- what the GUI shows and switches ------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.ctx.settings.auto_publish

    @property
    def paused(self) -> bool:
        try:
            doc = json.loads((self.ctx.settings.data_dir / PAUSE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and doc.get("paused") is True

    def set_paused(self, paused: bool) -> None:
        path = self.ctx.settings.data_dir / PAUSE_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"paused": paused}) + "\n", "utf-8")
        os.replace(tmp, path)
        self._wake.set()

    def view(self) -> dict[str, Any]:
        """The state as plain data (the GUI's page and its JSON)."""
        now = time.monotonic()
        return {
            "enabled": self.enabled,
            "paused": self.paused,
            "publishing": self.publishing,
            "pending": self.first_change is not None,
            "pending_seconds": (
                round(now - self.first_change, 1) if self.first_change is not None else None
            ),
            "waiting_for_other": self.waiting_for_other,
            "retry_in": (
                max(0, round(self.retry_at - now)) if self.retry_at is not None else None
            ),
            "publishes": self.publishes,
            "failures": self.failures,
            "last_at": self.last_at,
            "last_error": self.last_error,
            "providers": {
                url: {"at": s.at, "ok": s.ok, "seq": s.seq, "error": s.error}
                for url, s in self.results.items()
            },
        }

    def live_at(self, resource: str, parent: str, last_modified: int) -> dict[str, bool]:
        """Per provider (those known), whether a change stamped ``last_modified`` in the
        ``(resource, parent)`` list (``("record", "/buckets/site/collections/notes")``) is
        live there: what the editor says after Publish."""
        return {
            url: cursor.get((resource, parent), -1) >= last_modified
            for url, cursor in self.covered.items()
        }

    # --- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Watch and publish until cancelled."""
        feed = self.ctx.changes.subscribe_all()
        waker = asyncio.create_task(self._relay(feed))
        try:
            self._known, self._head = await asyncio.to_thread(self._repo_state)
            for entry in await asyncio.to_thread(self._entries):
                if self._known is not None and entry.get("head") == self._head:
                    self.covered[entry["url"]] = self._known  # live there already
            while True:
                try:
                    await self._tick()
                except Exception as exc:  # the store away (PostgreSQL restarting): try again
                    self._idle = True
                    self.last_error = f"cannot read the home's data: {exc}"
                    log.warning("auto-publish: %s", self.last_error)
                await self._sleep()
        finally:
            waker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waker
            self.ctx.changes.unsubscribe_all(feed)

    async def _relay(self, feed: asyncio.Event) -> None:
        """Turn a change in this process into a wake-up of the loop."""
        while True:
            await feed.wait()
            feed.clear()
            self._note_change()
            self._wake.set()

    def _repo_state(self) -> tuple[Cursor | None, str | None]:
        try:
            with repository.open_repo(self.ctx.settings) as repo:
                head = repo.head()
                return published_part(repo.cursor()), head.id.hex() if head else None
        except Exception as exc:  # no identity yet (before the wizard), a damaged repository
            log.info("auto-publish: no repository to compare with yet: %s", exc)
            return None, None

    def _note_change(self) -> None:
        now = time.monotonic()
        if self.first_change is None:
            self.first_change = now
        self.last_change = now

    def _due(self) -> float | None:
        """Seconds until a publish is due (0: now), or None when nothing waits."""
        if self.first_change is None or self.last_change is None:
            return None
        now = time.monotonic()
        wait = min(self.last_change + self.quiet, self.first_change + self.max_delay) - now
        failed, retry = self.failed_at, self.retry_at
        if failed is not None and retry is not None and self.last_change <= failed:
            wait = max(wait, retry - now)  # nothing new since the failure: back off
        if self.busy_until is not None:
            wait = max(wait, self.busy_until - now)
        return max(0.0, wait)

    def _backoff(self) -> float:
        return BACKOFF_SECONDS[min(max(self.failures - 1, 0), len(BACKOFF_SECONDS) - 1)]

    async def _sleep(self) -> None:
        due = None if self._idle else self._due()
        timeout = self.poll if due is None else min(self.poll, due)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _tick(self) -> None:
        self._idle = True
        entries = await asyncio.to_thread(self._entries)
        if not entries:
            return
        now = published_part(await self.ctx.store.timestamps())
        if now != self._known:
            self._known = now
            self._note_change()
        if self.first_change is None and any(e.get("head") != self._head for e in entries):
            self._note_change()  # a provider behind the head: catch it up
        if not self.enabled or self.paused:
            return
        self._idle = False
        if self._due() != 0.0:
            return
        await self._publish()

    def _entries(self) -> list[dict[str, Any]]:
        try:
            return providers.load(self.ctx.settings.data_dir)
        except providers.ProvidersError as exc:
            self.last_error = str(exc)
            return []

    async def _publish(self) -> None:
        self.publishing = True
        try:
            report = await publish(
                self.ctx.settings, self.ctx, http=self.http, trigger="auto", wait=0
            )
        except PublishBusy:
            self.waiting_for_other = True
            self.busy_until = time.monotonic() + BUSY_RETRY_SECONDS
            return
        except (HomeportError, providers.ProvidersError, RepositoryError, OSError) as exc:
            self._failed(str(getattr(exc, "message", None) or exc))
            return
        except Exception as exc:  # the loop must outlive any one publish
            log.exception("auto-publish failed")
            self._failed(f"the publish stopped on an unexpected error: {exc}")
            return
        finally:
            self.publishing = False
        self.waiting_for_other = False
        self.busy_until = None
        self.publishes += 1
        self._record(report)
        if report.cursor is not None:
            self._known = published_part(report.cursor)
        if any(o.error for o in report.outcomes):
            errors = " ".join(self.say(o) for o in report.outcomes if o.error)
            self._failed(errors)
            return
        self.failures = 0
        self.retry_at = self.failed_at = None
        self.last_error = None
        # changes noted while publishing were in the snapshot unless the store moved since
        if published_part(await self.ctx.store.timestamps()) == self._known:
            self.first_change = self.last_change = None

    def _failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        self.failed_at = time.monotonic()
        self.retry_at = self.failed_at + self._backoff()
        log.warning("auto-publish: %s (next try in %.0f s)", error, self._backoff())

    def _record(self, report: Report) -> None:
        stamp = int(time.time() * 1000)
        self.last_at = stamp
        for outcome in report.outcomes:
            state = self.results.setdefault(outcome.url, ProviderState())
            state.at = stamp
            state.ok = outcome.error is None
            state.error = self.say(outcome) if outcome.error else None
            if outcome.result is not None:
                state.seq = outcome.result.seq
                self._head = outcome.result.head
                if report.cursor is not None:
                    self.covered[outcome.url] = published_part(report.cursor)
