"""The sync protocol's endpoints under ``/_homeport/v1`` (``docs/protocol.md``).

Every tenant request is signed; the tenant is the one whose identity signed it, so no request
can name another tenant. Work on a tenant's repository runs in a worker thread, one job per
tenant at a time, in any worker process (packs, publish, rollback and delete queue behind each
other: ``locks.py``); reads (missing, fetch, bundle) use their own connections and never wait
for a publish.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import homeport
from homeport import jsonio
from homeport.core import handoff as handoff_rules
from homeport.core.canonical import canonical
from homeport.core.identity import IdentityError, current_key
from homeport.crypto.signing import verify as verify_signature
from homeport.interop import websub
from homeport.provider import activitypub, audience, domains, inbox, receive, sites
from homeport.provider import websub as websub_store
from homeport.provider.db import ACTIVE, DELETED, SUSPENDED, ProviderDB, ProviderStateError, Tenant
from homeport.provider.errors import ProviderError
from homeport.provider.locks import TenantLock
from homeport.provider.tenants import TenantDir, valid_name
from homeport.repo.bundle import export_bundle
from homeport.repo.repository import RepositoryError
from homeport.settings import Settings
from homeport.store.connection import DatabaseError, IntegrityError
from homeport.sync import segments
from homeport.sync.auth import (
    CLOCK_SKEW_MS,
    PROTOCOL,
    AudienceError,
    AuthError,
    check_audience,
    check_authorization,
    parse,
)

log = logging.getLogger("homeport.provider")

CHALLENGE_MS = 5 * 60 * 1000
NONCE_MS = 10 * 60 * 1000
NONCE_MARGIN_MS = 60 * 1000
MAX_JSON = 32 * 1024 * 1024
MAX_CHALLENGES = 10_000
PACK_TYPE = "application/vnd.homeport.pack"
BUNDLE_TYPE = "application/vnd.homeport.bundle"
T = TypeVar("T")


@dataclass
class Provider:
    """What every endpoint needs: settings, the database, the checks, a clock."""

    settings: Settings
    db: ProviderDB
    verifiers: domains.Verifiers = domains.DEFAULT
    clock: Callable[[], int] = receive.now_ms
    locks: dict[str, TenantLock] = field(default_factory=dict)
    public: tuple[str, ...] = ()
    """The configured public addresses (``provider_public_url``) as origins."""

    def __post_init__(self) -> None:
        self.public = audience.configured(self.settings)

    def audiences(self, request: Request) -> set[str]:
        """What a signature must name to be for this provider (``audience.py``)."""
        return audience.accepted(self.settings, self.public, request.scope)

    def lock(self, tenant: str) -> TenantLock:
        """This tenant's jobs, one at a time across all worker processes."""
        found = self.locks.get(tenant)
        if found is None:
            found = self.locks[tenant] = TenantLock.of(self.settings.data_dir, tenant)
        return found

    async def query(self, func: Callable[..., T], *args: Any) -> T:
        """A ``db`` call from the event loop: made in place on SQLite (microseconds; a thread
        hop costs more), in a worker thread on PostgreSQL (a round trip, and an outage must not
        stall every other request)."""
        if self.db.engine == "sqlite":
            return func(*args)
        return await in_thread(func, *args)

    def tdir(self, tenant: Tenant) -> TenantDir:
        return TenantDir.of(self.settings.data_dir, tenant.name, self.db.repositories)

    def site_url(self, name: str) -> str:
        return f"https://{name}.{self.settings.base_domain}/"


def provider_of(request: Request) -> Provider:
    found: Provider = request.app.state.provider
    return found


def error(exc: ProviderError) -> JSONResponse:
    return JSONResponse(exc.body(), exc.status)


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise ProviderError(413, "too-large", f"the body is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProviderError(413, "too-large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_of(body: bytes) -> dict[str, Any]:
    try:
        doc = jsonio.loads(body or b"{}")  # the one strict parser: NaN is not JSON
    except ValueError:
        raise ProviderError(400, "bad-request", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise ProviderError(400, "bad-request", "the body must be a JSON object")
    return doc


def _target(request: Request) -> str:
    path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def authenticate(
    request: Request,
    provider: Provider,
    limit: int = MAX_JSON,
    rotating: bool = False,
    digest: str | None = None,
    writes: bool = False,
) -> tuple[Tenant, bytes]:
    """The signing tenant and the request body; 401/403/410 otherwise. With ``rotating``, a
    key authorised by a longer identity log in the body is accepted too (``POST /identity``).
    With ``digest`` (a segmented pack), the signature covers that instead of the body, which is
    left unread for the caller to check piece by piece. A request that ``writes`` is refused
    with 409 ``not-primary`` unless its key is the primary the tenant's latest handoff names
    (``core/handoff.py``): a standby copy of a home reads, it never changes what is here."""
    header = request.headers.get("authorization")
    try:
        did = parse(header)["did"]
    except AuthError as exc:
        raise ProviderError(401, "unauthorized", str(exc)) from None
    tenant = await provider.query(provider.db.tenant_by_did, did)
    if tenant is None:
        raise ProviderError(401, "unauthorized", "no tenant with this identity here: enroll first")
    if tenant.state == DELETED:
        raise ProviderError(410, "deleted", "this tenant was deleted from this provider")
    if tenant.state == SUSPENDED:
        raise ProviderError(403, "suspended", "this tenant is suspended: ask the operator")
    body = b"" if digest is not None else await read_body(request, limit)
    allowed = {tenant.did, _key_in_force(tenant.did, tenant.operations)}
    if rotating:
        ops = json_of(body).get("operations")
        if isinstance(ops, list) and ops[: len(tenant.operations)] == tenant.operations:
            with contextlib.suppress(IdentityError, TypeError, KeyError, AttributeError):
                allowed.add(current_key(tenant.did, ops, verify_signature))
    now = provider.clock()
    # keys the log once authorised sign well enough to be told the home moved (below)
    retired = {str(op.get("key")) for op in tenant.operations if isinstance(op, dict)}
    try:
        signed = check_authorization(
            header,
            request.method,
            _target(request),
            body,
            allowed | retired,
            provider.audiences(request),
            now,
            digest=digest,
        )
    except AudienceError as exc:
        raise wrong_audience(exc) from None
    except AuthError as exc:
        raise ProviderError(401, "unauthorized", str(exc)) from None
    if signed.key not in allowed:
        # a standby (its key rotated out by the move) learns where the home lives now
        await check_primary(provider, tenant, signed.key)
        raise ProviderError(
            401, "unauthorized", "the request is signed by a key this tenant has not authorised"
        )
    # remembered for as long as its timestamp would pass the clock check, and then some
    expires = max(now + NONCE_MS, signed.ts + CLOCK_SKEW_MS + NONCE_MARGIN_MS)
    if not await provider.query(provider.db.remember_nonce, signed.nonce, expires, now):
        raise ProviderError(401, "replayed", "this request was already received (a replay)")
    if writes:
        await check_primary(provider, tenant, signed.key)
    return tenant, body


async def check_primary(provider: Provider, tenant: Tenant, key: str) -> None:
    """409 ``not-primary`` (saying where the home now lives) unless ``key`` may write."""
    doc = await provider.query(provider.db.handoff, tenant.name)
    held = None if doc is None else handoff_rules.parse(doc, tenant.did, verify_signature)
    if not handoff_rules.is_primary(held, key):
        assert held is not None
        raise ProviderError(
            409,
            "not-primary",
            f"this copy of the home is a standby: since handoff {held.epoch} its primary is "
            f"{held.where or 'another device'}, which alone may change it here",
            epoch=held.epoch,
            primary=held.primary,
            where=held.where,
            handoff=held.doc,
        )


def wrong_audience(exc: AudienceError) -> ProviderError:
    return ProviderError(401, "wrong-audience", str(exc), expected=exc.expected)


def _key_in_force(did: str, operations: list[dict[str, Any]]) -> str:
    try:
        return current_key(did, operations, verify_signature)
    except IdentityError:
        return did


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)


def endpoint(
    handler: Callable[[Request, Provider], Any],
) -> Callable[[Request], Any]:
    """Map ProviderError to its JSON answer, and storage faults (a full disk) to theirs."""

    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request, provider_of(request))
            return response
        except ProviderError as exc:
            return error(exc)
        except ClientDisconnect:  # a cut connection: what arrived whole was kept
            log.info("%s %s: the client went away mid-request", request.method, request.url.path)
            return error(ProviderError(400, "bad-request", "the request was cut"))
        except (OSError, sqlite3.Error, DatabaseError) as exc:
            return error(storage_error(exc))

    return run


def storage_error(exc: OSError | sqlite3.Error | DatabaseError) -> ProviderError:
    """A full disk is the operator's problem and says so; other storage faults (PostgreSQL
    unreachable included) are 503 so the home retries later. Either way nothing was
    half-applied (see ``receive.publish``)."""
    full = (
        (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
        or (isinstance(exc, sqlite3.Error) and "full" in str(exc))
        or (isinstance(exc, DatabaseError) and exc.full)
    )
    log.error("storage fault: %s", exc)
    if full:
        return ProviderError(
            507, "provider-full", "the provider's disk is full: try again later or elsewhere"
        )
    return ProviderError(503, "storage-error", f"the provider could not store this: {exc}")


# --- enrollment ----------------------------------------------------------------------------
async def challenge(request: Request, provider: Provider) -> Response:
    now = provider.clock()
    if await provider.query(provider.db.challenges_pending, now) >= MAX_CHALLENGES:
        raise ProviderError(429, "busy", "too many enrollments in progress: try again shortly")
    value = secrets.token_urlsafe(32)
    await provider.query(provider.db.add_challenge, value, now + CHALLENGE_MS, now)
    return JSONResponse({"challenge": value, "expires": now + CHALLENGE_MS})


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return b""


async def enroll(request: Request, provider: Provider) -> Response:
    doc = json_of(await read_body(request, MAX_JSON))
    try:
        code, value, key, sig = (str(doc[k]) for k in ("code", "challenge", "key", "sig"))
        did = str(doc["identity"]["did"])
        operations = list(doc["identity"]["operations"])
    except (KeyError, TypeError):
        raise ProviderError(
            400, "bad-request", "enroll needs code, challenge, name, identity, key and sig"
        ) from None
    aud = None if doc.get("audience") is None else str(doc["audience"])
    try:
        check_audience(aud, provider.audiences(request))
    except AudienceError as exc:
        raise wrong_audience(exc) from None
    now = provider.clock()
    invite = await provider.query(provider.db.invite, code)
    if invite is None or invite.used_by is not None or invite.expires < now:
        raise ProviderError(403, "bad-invite", "this enrollment code is unknown, used or expired")
    if not await provider.query(provider.db.take_challenge, value, now):
        raise ProviderError(401, "bad-challenge", "the challenge is unknown, used or expired")
    try:
        in_force = current_key(did, operations, verify_signature)
    except IdentityError as exc:
        raise ProviderError(
            400, "bad-identity", f"the identity log does not verify: {exc}"
        ) from None
    proof = {"audience": aud, "challenge": value, "code": code, "did": did}
    signed = canonical({**proof, "purpose": "enroll"})
    if key not in (in_force, did) or not verify_signature(key, signed, _unb64(sig)):
        raise ProviderError(401, "bad-signature", "the enrollment is not signed by this identity")
    name = (invite.name or str(doc.get("name") or "")).strip().lower()
    if not name:
        raise ProviderError(400, "bad-name", "choose a site name: it becomes <name>.<domain>")
    if not valid_name(name):
        raise ProviderError(400, "bad-name", f"{name!r} cannot be a site name (letters, digits, -)")
    existing = await provider.query(provider.db.tenant_by_did, did)
    if existing is not None and existing.state != DELETED:
        raise ProviderError(
            409, "already-enrolled", f"this identity is already tenant {existing.name}"
        )
    taken = await provider.query(provider.db.tenant, name)
    if taken is not None and not (taken.state == DELETED and taken.did == did):
        raise ProviderError(409, "name-taken", f"the name {name} is taken: choose another")
    try:
        await provider.query(provider.db.enroll, code, name, did, operations, invite.quota, now)
    except ProviderStateError:
        raise ProviderError(403, "bad-invite", "this enrollment code was just used") from None
    except (sqlite3.IntegrityError, IntegrityError) as exc:  # the name was taken meanwhile
        raise ProviderError(409, "name-taken", f"the name {name} is taken: {exc}") from None
    tdir = TenantDir.of(provider.settings.data_dir, name, provider.db.repositories)

    def prepare() -> None:
        tdir.remove()  # anything a deleted tenant of that name left
        tdir.create_repo()

    await in_thread(prepare)
    body = {"tenant": name, "site": provider.site_url(name), "quota": invite.quota}
    return JSONResponse(body, 201)


# --- the tenant ----------------------------------------------------------------------------
def tenant_doc(provider: Provider, tenant: Tenant) -> dict[str, Any]:
    tdir = provider.tdir(tenant)
    head = None
    if tdir.has_repo():
        with tdir.opened() as repo:
            head = repo.head()
    live = sites.live_name(tdir)
    return {
        "name": tenant.name,
        "did": tenant.did,
        "site": provider.site_url(tenant.name),
        "head": head.id.hex() if head else None,
        "seq": head.seq if head else None,
        "live": sites.seq_of(live) if live else None,
        "usage": tenant.usage,
        "quota": tenant.quota,
        "kept": sorted(sites.kept(tdir)),
        "domains": [
            {"domain": d.domain, "verified": d.verified}
            for d in provider.db.domains_of(tenant.name)
        ],
        "last_publish": tenant.last_publish,
        "state": tenant.state,
        "handoff": provider.db.handoff(tenant.name),
        "operations": tenant.operations,
    }


async def get_tenant(request: Request, provider: Provider) -> Response:
    tenant, _ = await authenticate(request, provider)
    return JSONResponse(await in_thread(tenant_doc, provider, tenant))


async def identity(request: Request, provider: Provider) -> Response:
    """A longer identity log (after ``identity rotate``), signed by its new key."""
    tenant, body = await authenticate(request, provider, rotating=True, writes=True)
    ops = json_of(body).get("operations")
    if not isinstance(ops, list):
        raise ProviderError(400, "bad-identity", "operations must be a list")
    receive.check_continues(tenant, ops)
    await provider.query(provider.db.set_operations, tenant.name, ops)
    return JSONResponse({"operations": len(ops)})


async def take_handoff(request: Request, provider: Provider) -> Response:
    """A root-signed handoff making a device key the primary (``core/handoff.py``), with the
    identity log that puts that key in force; both are kept together, and only when the epoch
    is above the one held: of two copies racing to become primary, the first one wins."""
    tenant, body = await authenticate(request, provider, rotating=True)
    doc = json_of(body)
    ops = doc.get("operations", tenant.operations)
    if not isinstance(ops, list):
        raise ProviderError(400, "bad-identity", "operations must be a list")
    try:
        new = handoff_rules.parse(doc.get("handoff"), tenant.did, verify_signature)
    except handoff_rules.HandoffError as exc:
        raise ProviderError(400, "bad-handoff", f"{exc}; nothing was changed") from None
    held_doc = await provider.query(provider.db.handoff, tenant.name)
    if held_doc is not None:  # a loser of the race is told who won before anything else
        _refuse_stale(handoff_rules.parse(held_doc, tenant.did, verify_signature), new)
    receive.check_continues(tenant, ops)
    if new.primary != _key_in_force(tenant.did, ops):
        raise ProviderError(
            400,
            "bad-handoff",
            "the handoff names a primary that the identity log does not put in force; "
            "nothing was changed",
        )
    won = await in_thread(
        provider.db.take_handoff,
        tenant.name,
        new.epoch,
        new.primary,
        new.doc,
        ops,
        tenant.operations,
    )
    if not won:
        doc_held = await provider.query(provider.db.handoff, tenant.name)
        held = (
            None
            if doc_held is None
            else handoff_rules.parse(doc_held, tenant.did, verify_signature)
        )
        if held is not None:
            _refuse_stale(held, new)
        if held is None or held.digest != new.digest:
            raise ProviderError(
                409, "stale-handoff", "the identity log changed meanwhile: nothing was changed"
            )
    return JSONResponse({"epoch": new.epoch, "primary": new.primary})


def _refuse_stale(held: handoff_rules.Handoff, new: handoff_rules.Handoff) -> None:
    """409 ``stale-handoff`` unless ``new`` follows ``held`` (or is ``held`` again: a retry)."""
    if handoff_rules.follows(held, new) or held.digest == new.digest:
        return
    raise ProviderError(
        409,
        "stale-handoff",
        f"handoff {held.epoch} is already here, making {held.where or 'another copy'} the "
        "primary: this one changes nothing (another copy of the home became the primary first)",
        epoch=held.epoch,
        primary=held.primary,
        where=held.where,
        handoff=held.doc,
    )


async def delete_tenant(request: Request, provider: Provider) -> Response:
    tenant, _ = await authenticate(request, provider, writes=True)
    async with provider.lock(tenant.name):
        await in_thread(remove_tenant, provider.db, provider.settings.data_dir, tenant.name)
    return JSONResponse({"deleted": tenant.name})


def remove_tenant(db: ProviderDB, data_dir: Path, name: str) -> None:
    """Mark deleted first (its hosts answer 410 at once), then remove its files."""
    db.set_state(name, DELETED)
    db.set_live(name, None)
    db.set_usage(name, 0)
    inbox.drop(db, name)
    TenantDir.of(data_dir, name, db.repositories).remove()


# --- objects -------------------------------------------------------------------------------
async def objects_missing(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider)
    ids = receive.parse_ids(json_of(body).get("ids"))

    def run() -> list[str]:
        with provider.tdir(tenant).opened() as repo:
            return receive.missing(repo, ids)

    return JSONResponse({"missing": await in_thread(run)})


async def objects_upload(request: Request, provider: Provider) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != PACK_TYPE:
        raise ProviderError(415, "bad-request", f"a pack is sent as {PACK_TYPE}")
    replace = request.query_params.get("replace") in ("1", "true")
    declared = request.headers.get(segments.HEADER)
    total = receive.PackResult()
    if declared is None:  # one piece, signed over the whole body
        tenant, body = await authenticate(request, provider, limit=receive.MAX_PACK)
        check = partial(receive.check_pack, body)
        usage = await _keep(provider, tenant, check, replace, total)
        return JSONResponse({"objects": total.objects, "stored": total.stored, "usage": usage})
    try:
        parts = segments.parse(declared, receive.MAX_PACK)
    except ValueError as exc:
        raise ProviderError(400, "bad-request", str(exc)) from None
    tenant, _ = await authenticate(request, provider, digest=segments.digest(declared))
    budget = receive.Budget.for_pack(sum(part.length for part in parts))
    usage = tenant.usage
    buffer = bytearray()
    arrived: list[tuple[bytes, bytes]] = []
    kept = done = 0

    async def keep_arrived() -> None:
        """Check the segments that arrived (in a worker thread: hashing is the costly part) and
        keep the ones that match; a bad one raises."""
        nonlocal usage, kept
        if arrived:
            batch, first = list(arrived), kept
            arrived.clear()
            kept += len(batch)
            check = partial(receive.check_segments, batch, first, budget)
            usage = await _keep(provider, tenant, check, replace, total)

    try:
        async for chunk in request.stream():
            buffer += chunk
            while done < len(parts) and len(buffer) >= parts[done].length:
                arrived.append((bytes(buffer[: parts[done].length]), parts[done].sha256))
                del buffer[: parts[done].length]
                done += 1
                if sum(len(a[0]) for a in arrived) >= KEEP_BYTES:
                    await keep_arrived()
            if done == len(parts) and buffer:
                break
    except ClientDisconnect:
        await keep_arrived()  # a cut: what arrived whole and matches its hash stays
        raise
    await keep_arrived()
    if done < len(parts) or buffer:
        raise ProviderError(
            400,
            "bad-request",
            f"the pack's body does not match the {len(parts)} segments it declares; "
            f"the {done} before the mismatch were kept",
            stored=total.stored,
        )
    return JSONResponse({"objects": total.objects, "stored": total.stored, "usage": usage})


KEEP_BYTES = 2 * 1024 * 1024
"""Checked segments are stored in batches of about this much (one transaction each)."""


async def _keep(
    provider: Provider,
    tenant: Tenant,
    check: Callable[[], receive.CheckedPack],
    replace: bool,
    total: receive.PackResult,
) -> int:
    """Check part of a pack with ``check`` in a worker thread and keep its good objects as
    pending, adding to ``total``; the tenant's usage after it. Raises what was bad, after
    keeping what came before it."""
    checked = await in_thread(check)
    async with provider.lock(tenant.name):
        current = await provider.query(provider.db.tenant, tenant.name) or tenant
        room = current.quota - current.usage
        now = provider.clock()

        def run() -> receive.PackResult:
            with provider.tdir(tenant).opened() as repo:
                return receive.receive_pack(repo, checked, room, now, replace)

        result = await in_thread(run)
        if result.new_bytes:
            await provider.query(provider.db.add_usage, tenant.name, result.new_bytes)
    total.objects += result.objects
    total.stored += result.stored
    total.new_bytes += result.new_bytes
    if result.error is not None:
        result.error.extra["stored"] = total.stored
        raise result.error
    return current.usage + result.new_bytes


async def objects_fetch(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider)
    ids = receive.parse_ids(json_of(body).get("ids"))
    tdir = provider.tdir(tenant)

    def frames() -> Iterator[bytes]:
        with tdir.opened() as repo:
            yield from receive.fetch(repo, ids)

    return StreamingResponse(frames(), media_type=PACK_TYPE)


async def bundle(request: Request, provider: Provider) -> Response:
    """The tenant's repository as a bundle, written to a temporary file in a thread and
    streamed from there: constant memory, and the export is one consistent read."""
    tenant, _ = await authenticate(request, provider)
    return await bundle_response(provider, tenant)


async def bundle_response(provider: Provider, tenant: Tenant) -> Response:
    """``tenant``'s whole repository as a bundle (also what a mirror fetches, ``mirror.py``)."""
    tdir = provider.tdir(tenant)
    tmp_dir = provider.settings.data_dir / "tmp"
    tmp_dir.mkdir(exist_ok=True)

    def export() -> Path:
        fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".bundle")
        path = Path(name)
        try:
            with tdir.opened() as repo, os.fdopen(fd, "wb") as out:
                first = repo.db.execute("SELECT min(seq) FROM commits").fetchone()[0]
                since = max(int(first or 1) - 1, 0)
                identity = {"did": tenant.did, "operations": tenant.operations}
                export_bundle(repo, identity, out, since)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    try:
        path = await in_thread(export)
    except RepositoryError as exc:
        raise ProviderError(404, "empty", f"nothing published here yet ({exc})") from None

    def stream() -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                while chunk := f.read(256 * 1024):
                    yield chunk
        finally:
            path.unlink(missing_ok=True)

    size = path.stat().st_size
    return StreamingResponse(
        stream(), media_type=BUNDLE_TYPE, headers={"Content-Length": str(size)}
    )


# --- publishing ----------------------------------------------------------------------------
async def publish(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    req = receive.Publish.parse(json_of(body))
    async with provider.lock(tenant.name):
        current = await provider.query(provider.db.tenant, tenant.name) or tenant
        tdir = provider.tdir(current)
        now = provider.clock()

        def run() -> tuple[receive.Published, dict[str, tuple[bytes, str]],
                           activitypub.Changes | None]:
            before = sites.live_name(tdir)
            with tdir.opened() as repo:
                keep = provider.settings.keep_commits
                done = receive.publish(repo, tdir, current, req, keep, now)
            return (done, websub_store.changed_feeds(tdir, before, done.manifest),
                    activitypub.changed_objects(tdir, before, done.manifest))

        done, feeds, objects = await in_thread(run)
        await provider.query(
            provider.db.published,
            current.name,
            req.operations,
            done.commit.seq,
            req.site,
            provider.clock(),
        )
        await provider.query(provider.db.set_usage, current.name, done.usage)
    await _notify_subscribers(request, tenant.name, feeds)
    await _tell_followers(request, tenant.name, objects)
    site = req.site or None
    return JSONResponse({"seq": done.commit.seq, "head": done.commit.id.hex(), "site": site})


async def rollback(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    seq = json_of(body).get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ProviderError(400, "bad-request", "rollback needs 'seq', a number")
    async with provider.lock(tenant.name):
        tdir = provider.tdir(tenant)
        name = sites.kept(tdir).get(seq)
        if name is None:
            raise ProviderError(404, "not-kept", f"commit {seq}'s site is not kept here")
        before = sites.live_name(tdir)
        sites.switch(tdir, name)
        await provider.query(provider.db.set_live, tenant.name, seq)
    feeds = await in_thread(websub_store.feeds_now, tdir, before, name)
    await _notify_subscribers(request, tenant.name, feeds)
    objects = await in_thread(activitypub.changed_by_switch, tdir, before, name)
    await _tell_followers(request, tenant.name, objects)  # Update/Delete of what it changed
    return JSONResponse({"live": seq})


async def _notify_subscribers(
    request: Request, tenant: str, feeds: dict[str, tuple[bytes, str]]
) -> None:
    """The WebSub hub: the subscribers of the feeds a change of the live tree changed."""
    try:
        await websub.notify(request.app.state.ports, tenant, feeds)
    except DatabaseError as exc:  # the site changed anyway; subscribers hear of the next one
        log.warning("websub: %s's subscribers not notified: %s", tenant, exc)


async def _tell_followers(
    request: Request, tenant: str, objects: activitypub.Changes | None
) -> None:
    """ActivityPub: what the publish changed, queued for the followers."""
    try:
        await activitypub.after_publish(request.app.state.ports, tenant, objects)
    except DatabaseError as exc:  # the site changed anyway; followers hear of the next one
        log.warning("activitypub: %s's followers not told: %s", tenant, exc)


# --- domains -------------------------------------------------------------------------------
def _domain_of(body: bytes, provider: Provider) -> str:
    try:
        return domains.normalise(
            str(json_of(body).get("domain") or ""), provider.settings.base_domain
        )
    except domains.DomainError as exc:
        raise ProviderError(400, "bad-domain", str(exc)) from None


async def add_domain(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    domain = _domain_of(body, provider)
    held = await provider.query(provider.db.domain, domain)
    if held is not None and held.tenant != tenant.name:
        owner = await provider.query(provider.db.tenant, held.tenant)
        if held.verified and owner is not None and owner.state != DELETED:
            raise ProviderError(409, "domain-taken", f"{domain} is another tenant's here")
    if held is not None and held.tenant == tenant.name:
        token = held.token
    else:
        token = domains.new_token()
        await provider.query(provider.db.claim_domain, domain, tenant.name, token, provider.clock())
    return JSONResponse(
        {
            "domain": domain,
            "token": token,
            "txt": f'_homeport.{domain} TXT "{domains.TXT_PREFIX}{token}"',
            "file": domains.TOKEN_PATH,
        }
    )


async def verify_domain(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    domain = _domain_of(body, provider)
    held = await provider.query(provider.db.domain, domain)
    if held is None or held.tenant != tenant.name:
        raise ProviderError(404, "unknown-domain", f"add {domain} first (POST /domains)")
    if not held.verified:
        if not await domains.proven(domain, held.token, provider.verifiers):
            raise ProviderError(
                422,
                "not-verified",
                f"neither the TXT record _homeport.{domain} nor http://{domain}"
                f"{domains.TOKEN_PATH} shows the token yet: add one and try again",
            )
        await provider.query(provider.db.verify_domain, domain)
    return JSONResponse({"domain": domain, "verified": True})


async def tls_allowed(request: Request, provider: Provider) -> Response:
    """Caddy's on-demand TLS ``ask``: 200 only for names this provider serves."""
    name = (request.query_params.get("domain") or "").strip().lower().rstrip(".")
    base = provider.settings.base_domain.lower().strip(".")
    allowed = await provider.query(_serves, provider.db, base, name)
    if allowed:
        return JSONResponse({"domain": name, "allowed": True})
    return JSONResponse({"domain": name, "allowed": False}, 404)


def _serves(db: ProviderDB, base: str, name: str) -> bool:
    if base and name.endswith("." + base):
        label = name[: -len(base) - 1]
        tenant = db.tenant(label) if "." not in label else None
        return tenant is not None and tenant.state == ACTIVE
    if name:
        held = db.domain(name) or db.domain(name.removeprefix("www."))
        owner = db.tenant(held.tenant) if held and held.verified else None
        return owner is not None and owner.state == ACTIVE
    return False


async def info(request: Request, provider: Provider) -> Response:
    """What a home checks before enrolling: that this is a provider, and which protocol."""
    return JSONResponse(
        {
            "homeport": "provider",
            "protocol": PROTOCOL,
            "version": homeport.__version__,
            "base_domain": provider.settings.base_domain,
            "box_key": activitypub.box_key(request.app.state.ports),
        }
    )


def routes() -> list[Route]:
    return [
        Route("/", endpoint(info), methods=["GET"]),
        Route("/challenge", endpoint(challenge), methods=["POST"]),
        Route("/enroll", endpoint(enroll), methods=["POST"]),
        Route("/tenant", endpoint(get_tenant), methods=["GET"]),
        Route("/tenant", endpoint(delete_tenant), methods=["DELETE"]),
        Route("/identity", endpoint(identity), methods=["POST"]),
        Route("/handoff", endpoint(take_handoff), methods=["POST"]),
        Route("/objects/missing", endpoint(objects_missing), methods=["POST"]),
        Route("/objects/fetch", endpoint(objects_fetch), methods=["POST"]),
        Route("/objects", endpoint(objects_upload), methods=["POST"]),
        Route("/publish", endpoint(publish), methods=["POST"]),
        Route("/rollback", endpoint(rollback), methods=["POST"]),
        Route("/bundle", endpoint(bundle), methods=["GET"]),
        Route("/domains", endpoint(add_domain), methods=["POST"]),
        Route("/domains/verify", endpoint(verify_domain), methods=["POST"]),
        Route("/tls-allowed", endpoint(tls_allowed), methods=["GET"]),
    ]


__all__ = ["Provider", "remove_tenant", "routes"]
