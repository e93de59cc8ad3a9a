"""The newsletter at the provider the creator chose to send it (``docs/members.md``,
"Newsletter"): ``POST /_homeport/v1/newsletter``, signed by the home like every protocol
request, queues one new entry's mail (plain text and HTML) for up to 500 addresses, skipping
every address on the tenant's suppression list; each provider process's ``Sender`` then sends
them through the SMTP server (``smtp_url``, ``interop/mail.py``) with RFC 8058 one-click
unsubscribe headers, outside the home's publish. Addresses the SMTP server refuses for good,
and those a later bounce (RFC 3464) or complaint (RFC 5965) names, read by ``BounceReader`` at
``bounce_listen``, are suppressed and the home told. Only a provider holding the tenant's
``newsletter-send`` delegation sends. The suppression list (``ports.Suppressions``) is the
``newsletter_suppressed`` table."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import smtplib
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.interop import bounces, mail
from homeport.interop.newsletter import (
    SEND_POWER,
    UNSUBSCRIBE_KIND,
    UNSUBSCRIBED,
    email_hash,
    unsubscribe_headers,
)
from homeport.interop.ports import InboxFull
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.db import ProviderDB
from homeport.provider.errors import ProviderError
from homeport.settings import Settings

log = logging.getLogger("homeport.newsletter")

MAX_MESSAGES = 500
MAX_BODY = 8 * 1024 * 1024
MAX_REPORT = 1024 * 1024
BOUNCED = bounces.BOUNCE
QUEUED, CLAIMED, SENDING = "queued", "claimed", "sending"
SENT, FAILED, UNKNOWN = "sent", "failed", "unknown"
WITHDRAWN = "withdrawn"
"""Queued, but the home took the ``newsletter-send`` delegation back before it went."""
LEASE = 15 * 60_000
"""How long a worker may take to hand a claimed round to the SMTP server."""
FIRST_RETRY = 60_000
GIVE_UP = 48 * 3_600_000
KEEP = 30 * 86_400_000
"""How long a sent mail's row is kept, so a bounce that comes days later finds its address."""
POLL = 2.0
"""Seconds between looks at the queue when nothing woke the sender (another process queued)."""


class ProviderSuppressions:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def suppress(self, tenant: str, email_hash: str, reason: str, now: int) -> bool:
        with self.db.transaction() as conn:
            added = conn.execute(
                "INSERT INTO newsletter_suppressed (tenant, email_hash, reason, at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tenant, email_hash) DO NOTHING",
                (tenant, email_hash, reason, now),
            ).rowcount
        return added > 0

    def suppressed(self, tenant: str, email_hashes: Collection[str]) -> set[str]:
        wanted = sorted(set(email_hashes))
        found: set[str] = set()
        with self.db.reading() as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    "SELECT email_hash FROM newsletter_suppressed WHERE tenant = ?"
                    f" AND email_hash IN ({marks})", (tenant, *part)).fetchall()
                found.update(str(r[0]) for r in rows)
        return found


@dataclass(frozen=True)
class Job:
    """One queued mail: one entry to one address."""

    id: str
    tenant: str
    address: str
    email_hash: str
    attempts: int
    created: int
    site: str
    subject: str
    text: str
    html: str


def mail_id(tenant: str, entry: str, hashed: str) -> str:
    """The queue's key for one entry's mail to one address: handing the same batch again (a
    home that crashed before it noted the entry as sent) queues nothing twice."""
    return hashlib.sha256(f"{tenant}\0{entry}\0{hashed}".encode()).hexdigest()[:24]


class NewsletterQueue:
    """The mails waiting to go (``newsletter_queue``, one row per entry and address; the
    entry's subject and bodies once in ``newsletter_mails``). A row is ``queued``, then
    ``claimed`` by a worker for a round (its ``due`` is then the lease's end), ``sending``
    while that worker hands it to the SMTP server, then ``sent``, ``bounced``, ``failed`` or
    ``withdrawn`` (the home no longer has this provider send). When a lease ran out, the
    worker died: its ``claimed`` rows go back to the queue, and the one row ``sending`` (it
    died mid-hand-over) becomes ``unknown`` and is never sent again (at most once). Rows are
    kept ``KEEP`` ms after they were made, so a late bounce still finds its address."""

    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def add(self, tenant: str, entry: str, mail: dict[str, str],
            recipients: list[tuple[str, str]], now: int) -> int:
        """Queue ``recipients`` (address, hash) for ``entry``; how many were new."""
        added = 0
        with self.db.transaction(lock="newsletter") as conn:
            conn.execute(
                "INSERT INTO newsletter_mails (tenant, entry, site, subject, text, html, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, entry) DO NOTHING",
                (tenant, entry, mail["site"], mail["subject"], mail["text"], mail["html"], now))
            for address, hashed in recipients:
                added += conn.execute(
                    "INSERT INTO newsletter_queue (id, tenant, entry, address, email_hash,"
                    " state, attempts, due, created) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
                    " ON CONFLICT (id) DO NOTHING",
                    (mail_id(tenant, entry, hashed), tenant, entry, address, hashed, QUEUED,
                     now, now)).rowcount
        return added

    def claim(self, now: int, limit: int) -> list[Job]:
        """Up to ``limit`` due mails, each now ``claimed`` under a lease of ``LEASE`` ms."""
        with self.db.reading() as conn:  # most looks find nothing: no write lock for those
            if conn.execute("SELECT 1 FROM newsletter_queue WHERE state IN (?, ?, ?) AND due"
                            " <= ? LIMIT 1", (QUEUED, CLAIMED, SENDING, now)).fetchone() is None:
                return []
        with self.db.transaction(lock="newsletter") as conn:
            conn.execute("UPDATE newsletter_queue SET state = ? WHERE state = ? AND due <= ?",
                         (UNKNOWN, SENDING, now))
            conn.execute("UPDATE newsletter_queue SET state = ? WHERE state = ? AND due <= ?",
                         (QUEUED, CLAIMED, now))
            rows = conn.execute(
                "SELECT q.id, q.tenant, q.address, q.email_hash, q.attempts, q.created, m.site,"
                " m.subject, m.text, m.html FROM newsletter_queue AS q JOIN newsletter_mails"
                " AS m ON m.tenant = q.tenant AND m.entry = q.entry WHERE q.state = ?"
                " AND q.due <= ? ORDER BY q.due LIMIT ?", (QUEUED, now, limit)).fetchall()
            taken = []
            for row in rows:
                if conn.execute("UPDATE newsletter_queue SET state = ?, due = ? WHERE id = ?"
                                " AND state = ?", (CLAIMED, now + LEASE, row[0], QUEUED)
                                ).rowcount == 1:
                    taken.append(Job(str(row[0]), str(row[1]), str(row[2]), str(row[3]),
                                     int(row[4]), int(row[5]), *(str(v) for v in row[6:])))
        return taken

    def start(self, job_id: str) -> bool:
        """Mark a claimed mail as being handed over now; False when its lease ran out (another
        worker may have it)."""
        with self.db.transaction(lock="newsletter") as conn:
            return bool(conn.execute("UPDATE newsletter_queue SET state = ? WHERE id = ? AND"
                                     " state = ?", (SENDING, job_id, CLAIMED)).rowcount == 1)

    def finish(self, job_id: str, state: str, due: int = 0) -> None:
        """``state`` is ``sent``, ``bounced``, ``failed``, ``withdrawn``, or ``queued`` again
        (due ``due``)."""
        with self.db.transaction(lock="newsletter") as conn:
            conn.execute("UPDATE newsletter_queue SET state = ?, due = ?, attempts = attempts"
                         " + 1 WHERE id = ? AND state IN (?, ?)",
                         (state, due, job_id, CLAIMED, SENDING))

    def find(self, job_id: str) -> tuple[str, str] | None:
        """The tenant and address hash of a mail sent from here (a report names it)."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT tenant, email_hash FROM newsletter_queue WHERE id = ?",
                               (job_id,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def states(self, tenant: str) -> dict[str, int]:
        """How many of the tenant's mails are in each state."""
        with self.db.reading() as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM newsletter_queue WHERE tenant = ?"
                                " GROUP BY state", (tenant,)).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def prune(self, now: int) -> None:
        with self.db.transaction(lock="newsletter") as conn:
            conn.execute("DELETE FROM newsletter_queue WHERE created < ? AND state IN"
                         " (?, ?, ?, ?, ?)", (now - KEEP, SENT, BOUNCED, FAILED, UNKNOWN,
                                              WITHDRAWN))
            conn.execute("DELETE FROM newsletter_mails WHERE created < ? AND NOT EXISTS"
                         " (SELECT 1 FROM newsletter_queue AS q WHERE q.tenant ="
                         " newsletter_mails.tenant AND q.entry = newsletter_mails.entry)",
                         (now - KEEP,))


def _batch(doc: Any) -> tuple[str, dict[str, str], list[str]]:
    """The entry, its mail and the addresses of one ``POST /newsletter``; 400 when any of it
    is not a mail this provider would send."""
    if not isinstance(doc, dict):
        raise ProviderError(400, "bad-request", "the body is a JSON object")
    fields = {k: doc.get(k) for k in ("entry", "subject", "text")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        raise ProviderError(400, "bad-request", "entry, subject and text are needed")
    html = doc.get("html", "")
    if not isinstance(html, str):
        raise ProviderError(400, "bad-request", "html is a string")
    to = doc.get("to")
    if not isinstance(to, list) or not 0 < len(to) <= MAX_MESSAGES:
        raise ProviderError(400, "bad-request", f"to must be a list of 1 to {MAX_MESSAGES} "
                            "addresses")
    for n, address in enumerate(to):
        if not isinstance(address, str) or "@" not in address or any(
                c in address for c in "\r\n"):
            raise ProviderError(400, "bad-request", f"to[{n}] is not an address it can mail")
    if any(c in str(fields["subject"]) for c in "\r\n") or len(str(fields["entry"])) > 200:
        raise ProviderError(400, "bad-request", "the subject is one line, the entry an id")
    mail = {k: str(v) for k, v in fields.items() if k != "entry"}
    return str(fields["entry"]), {**mail, "html": html}, [str(a) for a in to]


def _site(ports: Any, tenant: str, named: Any, base_domain: str) -> str:
    """The site's address the unsubscribe links name: the one the home gave if this
    provider serves the tenant there, else its address under the base domain."""
    if isinstance(named, str) and named.startswith(("https://", "http://")):
        host = named.split("://", 1)[1].split("/", 1)[0]
        found = ports.sites.tenant_for_host(host)
        if found is not None and found.name == tenant:
            return named.rstrip("/")
    return f"https://{tenant}.{base_domain}"


def _bounced(exc: BaseException) -> bool:
    """Whether the SMTP server refused the recipient for good (5xx), not a passing fault."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in cause.recipients.values())
    return False


async def send(request: Request, provider: Provider) -> Response:
    """Queue one entry's mail for up to 500 addresses (202); the sender sends it after the
    home's publish has moved on. The answer names the addresses suppressed here."""
    tenant, body = await authenticate(request, provider, MAX_BODY, writes=True)
    ports = request.app.state.ports
    if ports.grants.delegation(tenant.name, SEND_POWER) is None:
        raise ProviderError(403, "forbidden", "the home has not chosen this provider to send "
                            "its newsletter (no newsletter-send delegation)")
    if not provider.settings.smtp_url:
        raise ProviderError(503, "no-smtp", "this provider has no SMTP server (smtp_url)")
    doc = json_of(body)
    entry, mail, to = _batch(doc)
    mail["site"] = _site(ports, tenant.name, doc.get("site"), provider.settings.base_domain)
    result = await in_thread(_queue, provider, ports, tenant.name, entry, mail, to)
    sender = getattr(request.app.state, "newsletter_sender", None)
    if isinstance(sender, Sender):
        sender.wake()
    return JSONResponse(result, 202)


def _queue(provider: Provider, ports: Any, tenant: str, entry: str, mail: dict[str, str],
           to: list[str]) -> dict[str, Any]:
    suppressions: ProviderSuppressions = ports.suppressions
    hashes = {address: email_hash(address) for address in to}
    skipped = suppressions.suppressed(tenant, hashes.values())
    wanted = [(a, h) for a, h in hashes.items() if h not in skipped]
    queue = NewsletterQueue(provider.db)
    added = queue.add(tenant, entry, mail, wanted, provider.clock()) if wanted else 0
    return {"queued": added, "suppressed": sorted(skipped)}


def _ref(ports: Any, job_id: str) -> str:
    """``id.mac``: names one mail in its envelope sender and Message-ID (``interop/bounces``)."""
    mac = hmac.new(ports.once.secret("newsletter_bounce"), job_id.encode(), hashlib.sha256)
    return f"{job_id}.{mac.hexdigest()[:10]}"


def _job_of(ports: Any, ref: str) -> str | None:
    job_id, _, mac = ref.partition(".")
    return job_id if hmac.compare_digest(_ref(ports, job_id), f"{job_id}.{mac}") else None


def backoff(attempts: int) -> int:
    return int(min(FIRST_RETRY * 2 ** attempts, 3_600_000))


class Sender:
    """Each provider process's newsletter sender: takes due mails from the queue and hands
    them to ``smtp_url`` one by one, noting each outcome as soon as it is known."""

    def __init__(self, settings: Settings, db: ProviderDB, ports: Any,
                 clock: Callable[[], int]) -> None:
        self.settings, self.ports, self.clock = settings, ports, clock
        self.queue = NewsletterQueue(db)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        pruned = 0
        while True:
            try:
                busy = await asyncio.to_thread(self.run_once)
                if self.clock() - pruned > 3_600_000:
                    pruned = self.clock()
                    await asyncio.to_thread(self.queue.prune, pruned)
            except Exception:  # a database fault: try again at the next round
                log.exception("newsletter: the sender's round failed")
                busy = 0
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL)

    def run_once(self, limit: int = 20) -> int:
        """Send what is due (blocking); how many mails were taken."""
        if not self.settings.smtp_url:
            return 0
        jobs = self.queue.claim(self.clock(), limit)
        chosen: dict[str, bool] = {}
        if jobs:
            with mail.Session(self.settings.smtp_url) as session:  # one connection a round
                for job in jobs:
                    if job.tenant not in chosen:  # "newsletter off", or another sender now
                        chosen[job.tenant] = self.ports.grants.delegation(
                            job.tenant, SEND_POWER) is not None
                    if not chosen[job.tenant]:
                        self.queue.finish(job.id, WITHDRAWN)
                    elif self.queue.start(job.id):
                        self.queue.finish(job.id, *self._send(session, job))
        return len(jobs)

    def _send(self, session: mail.Session, job: Job) -> tuple[str, int]:
        ref = _ref(self.ports, job.id)
        host = job.site.split("://", 1)[-1].split("/")[0].split(":")[0]
        local, _, domain = self.settings.bounce_address.partition("@")
        try:
            session.send(sender=f"newsletter@{host}", to=job.address, subject=job.subject,
                         text=job.text, html=job.html,
                         headers=unsubscribe_headers(self.ports.once, job.tenant, job.site,
                                                     job.email_hash),
                         message_id=f"<{ref}@{host}>",
                         envelope_from=f"{local}+{ref}@{domain}" if local and domain else "")
        except mail.MailError as exc:
            now = self.clock()
            if _bounced(exc):
                stop_address(self.ports, job.tenant, job.email_hash, BOUNCED, now)
                return BOUNCED, 0
            if now - job.created > GIVE_UP:
                log.info("newsletter: gave up a mail of %s: %s", job.tenant, exc)
                return FAILED, 0
            return QUEUED, now + backoff(job.attempts)
        self.sent += 1
        return SENT, 0


def stop_address(ports: Any, tenant: str, hashed: str, reason: str, now: int) -> None:
    """Suppress an address here and tell the home, which stops the member's newsletter."""
    ports.suppressions.suppress(tenant, hashed, reason, now)
    with contextlib.suppress(InboxFull):  # suppressed here already
        ports.inbox.put(tenant, UNSUBSCRIBE_KIND, {"email_hash": hashed, "reason": reason}, b"",
                        item_id=f"unsubscribe-{hashed[:32]}")


class BounceReader:
    """An SMTP server (aiosmtpd) taking the reports that come back to ``bounce_address``:
    mail for any other address is refused at RCPT, and a report only acts on the mails its
    references name (``interop/bounces.py``)."""

    def __init__(self, settings: Settings, db: ProviderDB, ports: Any,
                 clock: Callable[[], int]) -> None:
        self.local, _, domain = settings.bounce_address.lower().partition("@")
        self.domain = domain
        self.ports, self.clock = ports, clock
        self.queue = NewsletterQueue(db)
        self.read = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:
        local, _, domain = address.lower().rpartition("@")
        if domain != self.domain or (local != self.local
                                     and bounces.envelope_ref(local, self.local) is None):
            return "550 5.1.1 this server takes only the newsletter's reports"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if len(content) > MAX_REPORT:
            return "552 5.3.4 a report is smaller than that"
        refs = {bounces.envelope_ref(a.lower().rpartition("@")[0], self.local)
                for a in envelope.rcpt_tos}
        await asyncio.to_thread(self.apply, bytes(content), frozenset(r for r in refs if r))
        return "250 OK"

    def apply(self, raw: bytes, refs: frozenset[str]) -> int:
        """Suppress the addresses a report is about; how many."""
        report = bounces.read(raw, refs)
        self.read += 1
        if not report.kind:
            return 0
        done = 0
        for ref in report.refs:
            job_id = _job_of(self.ports, ref)
            found = self.queue.find(job_id) if job_id else None
            if found is not None:
                stop_address(self.ports, *found, report.kind, self.clock())
                done += 1
        return done


def _listen_at(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@asynccontextmanager
async def lifespan(state: Any) -> AsyncIterator[None]:
    """Each provider process sends what is queued (what a restart left too); one of them
    reads the reports at ``bounce_listen``."""
    provider: Provider | None = getattr(state, "provider", None)
    ports = getattr(state, "ports", None)
    if provider is None or ports is None or ports.suppressions is None:
        yield
        return
    sender = Sender(provider.settings, provider.db, ports, provider.clock)
    state.newsletter_sender = sender
    sender.start()
    controller = None
    settings = provider.settings
    if settings.bounce_listen and settings.bounce_address:
        from aiosmtpd.controller import Controller

        reader = BounceReader(settings, provider.db, ports, provider.clock)
        host, port = _listen_at(settings.bounce_listen)
        state.newsletter_bounces = reader
        controller = Controller(reader, hostname=host, port=port,
                                data_size_limit=MAX_REPORT)
        try:
            await asyncio.to_thread(controller.start)
        except (OSError, RuntimeError) as exc:  # another worker process listens there
            log.info("newsletter: not reading reports in this process: %s", exc)
            controller = None
    try:
        yield
    finally:
        if controller is not None:
            await asyncio.to_thread(controller.stop)
        await sender.stop()


def routes() -> list[Route]:
    return [Route("/newsletter", endpoint(send), methods=["POST"])]


__all__ = ["BOUNCED", "UNSUBSCRIBED", "BounceReader", "NewsletterQueue", "ProviderSuppressions",
           "Sender", "lifespan", "mail_id", "routes"]
