"""Record attachments as kinto-attachment serves them, kept in the content-addressed blob store.

The file is streamed to disk while it is hashed; the record's ``attachment`` field holds
``location``, ``hash``, ``size``, ``mimetype`` and ``filename``. Files are served back through the
record's read permission, so a private record's attachment is never public.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from homeport.api.messages import ApiResponse, quoted
from homeport.api.resources import check_path_ids, object_response
from homeport.core.errors import InvalidParameters, ObjectNotFound, RequestTooLarge
from homeport.services import resources as res
from homeport.services import writes
from homeport.services.context import Context, User
from homeport.services.resources import RECORD, unit_of_work

CHUNK = 1024 * 1024


def safe_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    if base in ("", ".", "..") or "\x00" in base:
        raise InvalidParameters.at("body", "attachment", "Invalid filename")
    return base


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            return
        yield chunk


async def upload(
    ctx: Context, request: Request, user: User, bid: str, cid: str, rid: str
) -> Response:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    length = request.headers.get("content-length")
    limit = ctx.settings.max_attachment_bytes
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise RequestTooLarge(f"Attachment is bigger than the limit of {limit} bytes")
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise InvalidParameters.at("body", "attachment", "Expected a multipart/form-data body")
    existing = await res.find_object(ctx, RECORD, parent, rid)
    uri = RECORD.uri(parent, rid)
    permission_ok = (
        await res.is_allowed(ctx, user, "record", uri, "write")
        if existing is not None
        else await writes.may_create(ctx, user, RECORD, parent)
    )
    if not permission_ok:
        raise res.deny(user)
    await res.ensure_parents(ctx, parent)
    async with request.form(max_files=1, max_fields=10) as form:
        item = form.get("attachment")
        if not isinstance(item, UploadFile):
            raise InvalidParameters.at("body", "attachment", "Required")
        filename = safe_filename(item.filename)
        digest = await ctx.blobs.put_stream(_chunks(item), max_size=limit)
        mimetype = item.content_type or mimetypes.guess_type(filename)[0]
    size = ctx.blobs.size(digest)
    attachment = {
        "location": f"{bid}/{cid}/{rid}/{quote(filename)}",
        "hash": digest,
        "size": size,
        "mimetype": mimetype or "application/octet-stream",
        "filename": filename,
    }
    async with unit_of_work(ctx):
        existing = await res.find_object(ctx, RECORD, parent, rid)
        data = {**(existing or {}), "attachment": attachment}
        written = await writes.save(
            ctx, user, RECORD, parent, rid, data, None,
            existing=existing, replace_permissions=False,
        )
    response = object_response(
        201 if written.created else 200, RECORD, written.obj,
        res.visible_permissions(user, written.permissions),
    )
    return _json(response)


async def remove(ctx: Context, user: User, bid: str, cid: str, rid: str) -> Response:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    async with unit_of_work(ctx):
        await res.require(ctx, user, "record", RECORD.uri(parent, rid), "write")
        existing = await ctx.store.get("record", parent, rid)
        if existing.get("attachment") is None:
            raise ObjectNotFound("attachment", rid)
        data = {k: v for k, v in existing.items() if k != "attachment"}
        data["attachment"] = None
        await writes.save(
            ctx, user, RECORD, parent, rid, data, None,
            existing=existing, replace_permissions=False,
        )
    return Response(status_code=204)


async def serve(ctx: Context, user: User, bid: str, cid: str, rid: str, name: str) -> Response:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    found = await res.get_object(ctx, user, RECORD, parent, rid)
    attachment = found.obj.get("attachment")
    if not isinstance(attachment, dict) or attachment.get("filename") != name:
        raise ObjectNotFound("attachment", rid)
    path = ctx.blobs.path(str(attachment["hash"]))
    if path is None:
        raise ObjectNotFound("attachment", rid)
    return FileResponse(
        path,
        media_type=str(attachment.get("mimetype") or "application/octet-stream"),
        headers={"ETag": quoted(found.obj["last_modified"]), "Cache-Control": "private"},
    )


def _json(response: ApiResponse) -> Response:
    return Response(
        response.encode(), response.status, response.headers, media_type="application/json"
    )
