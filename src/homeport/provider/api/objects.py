"""Objects: which of a list are missing, packs received (whole or in signed segments, checked
in a worker thread, kept as pending until a publish names them), fetched back, and the whole
repository as a bundle. Reads use their own connections and never wait for a publish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from homeport.provider import receive
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.db import Tenant
from homeport.provider.errors import ProviderError
from homeport.repo.bundle import FETCH_END_HEADER, export_bundle
from homeport.repo.repository import RepositoryError, WrittenPack
from homeport.sync import segments

PACK_TYPE = "application/vnd.homeport.pack"
BUNDLE_TYPE = "application/vnd.homeport.bundle"

log = logging.getLogger("homeport.provider")


async def missing(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider)
    ids = receive.parse_ids(json_of(body).get("ids"))

    def run() -> list[str]:
        with provider.tdir(tenant).opened() as repo:
            return receive.missing(repo, ids)

    return JSONResponse({"missing": await in_thread(run)})


async def upload(request: Request, provider: Provider) -> Response:
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
    usage = await _receive_segments(request, provider, tenant, parts, replace, total)
    return JSONResponse({"objects": total.objects, "stored": total.stored, "usage": usage})


async def _receive_segments(
    request: Request,
    provider: Provider,
    tenant: Tenant,
    parts: list[segments.Segment],
    replace: bool,
    total: receive.PackResult,
) -> int:
    """A pack sent in signed segments, kept as they arrive; the tenant's usage after it."""
    budget = receive.Budget.for_pack(sum(part.length for part in parts))
    usage = tenant.usage
    buffer = bytearray()
    arrived: list[tuple[bytes, bytes]] = []
    kept = done = 0
    keeping: asyncio.Future[int] | None = None

    async def keep_arrived(wait: bool = True) -> None:
        """Check the segments that arrived (in a worker thread: hashing is the costly part) and
        keep the ones that match; a bad one raises. Without ``wait`` the batch is kept while
        the next one is received: one batch at a time, in order, so a bad segment still
        stops everything after it."""
        nonlocal usage, kept, keeping
        if keeping is not None:
            previous, keeping = keeping, None
            usage = await previous
        if arrived:
            batch, first = list(arrived), kept
            arrived.clear()
            kept += len(batch)
            check = partial(receive.check_segments, batch, first, budget)
            keeping = asyncio.ensure_future(_keep(provider, tenant, check, replace, total))
            if wait:
                previous, keeping = keeping, None
                usage = await previous

    try:
        async for chunk in request.stream():
            buffer += chunk
            while done < len(parts) and len(buffer) >= parts[done].length:
                arrived.append((bytes(buffer[: parts[done].length]), parts[done].sha256))
                del buffer[: parts[done].length]
                done += 1
                if sum(len(a[0]) for a in arrived) >= KEEP_BYTES:
                    await keep_arrived(wait=False)
            if done == len(parts) and buffer:
                break
    except ClientDisconnect:
        await keep_arrived()  # a cut: what arrived whole and matches its hash stays
        raise
    except BaseException:
        if keeping is not None:  # not left running unobserved
            with contextlib.suppress(Exception):
                await keeping
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
    return usage


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
    tdir = provider.tdir(tenant)
    written = None
    size = sum(len(good[3]) for good in checked.good)
    if not replace and checked.good and size <= tenant.quota - tenant.usage:

        def ahead() -> WrittenPack | None:
            with tdir.opened() as repo:
                return receive.write_ahead(repo, checked)

        written = await in_thread(ahead)
    result = receive.PackResult()
    try:
        async with provider.lock(tenant.name):
            current = await provider.query(provider.db.tenant, tenant.name) or tenant
            room = current.quota - current.usage
            now = provider.clock()

            def run() -> receive.PackResult:
                with tdir.opened() as repo:
                    return receive.receive_pack(repo, checked, room, now, replace, written)

            result = await in_thread(run)
            if result.new_bytes:
                await provider.query(provider.db.add_usage, tenant.name, result.new_bytes)
    finally:
        if written is not None and not result.adopted:
            pack = written

            def discard() -> None:
                with tdir.opened() as repo:
                    repo.discard_pack(pack)

            await in_thread(discard)
    total.objects += result.objects
    total.stored += result.stored
    total.new_bytes += result.new_bytes
    if result.error is not None:
        result.error.extra["stored"] = total.stored
        raise result.error
    return current.usage + result.new_bytes


async def fetch(request: Request, provider: Provider) -> Response:
    """A client that asks for ``"end": true`` gets the end mark, announced in a header (one
    that does not would read the mark as a bad frame). A read that fails once the answer has
    started ends it without the mark: logged here, in one line, and seen as cut there."""
    tenant, body = await authenticate(request, provider)
    doc = json_of(body)
    ids = receive.parse_ids(doc.get("ids"))
    end = doc.get("end") is True
    tdir = provider.tdir(tenant)

    def frames() -> Iterator[bytes]:
        try:
            with tdir.opened() as repo:
                yield from receive.fetch(repo, ids, end)
        except Exception as exc:  # headers are sent: all that is left is to end early
            log.warning("fetch for %s ended early: %s", tenant.name, exc)

    headers = {FETCH_END_HEADER: "1"} if end else None
    return StreamingResponse(frames(), media_type=PACK_TYPE, headers=headers)


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
                first = repo.oldest_seq()
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
