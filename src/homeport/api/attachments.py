"""Record attachments as kinto-attachment serves them, kept in the content-addressed blob store.

The file is streamed to disk while it is hashed; the record's ``attachment`` field holds
``location``, ``hash``, ``size``, ``mimetype`` and ``filename``. Files are served back through the
record's read permission, so a private record's attachment is never public.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from homeport import jsonio
from homeport.api.messages import quoted
from homeport.api.resources import check_path_ids, read_headers
from homeport.core.errors import (
    Errno,
    HomeportError,
    InvalidParameters,
    ObjectNotFound,
    RequestTooLarge,
    not_a_mapping,
)
from homeport.services import resources as res
from homeport.services import writes
from homeport.services.context import Context, User
from homeport.services.resources import RECORD, unit_of_work
from homeport.store.protocols import JSONObject, Permissions
from homeport.web.hosts import origin_of

CHUNK = 1024 * 1024

EXTENSION_GROUPS: dict[str, str] = {
    "documents": "pdf rtf odf ods gnumeric abw doc docx xls xlsx",
    "text": "txt md",
    "images": "jpg jpe jpeg png gif svg bmp tiff webp heic avif",
    "audio": "wav mp3 aac ogg oga flac",
    "video": "mpeg 3gp avi divx dvr flv mp4 wmv webm mov",
    "data": "csv ini json plist xml yaml yml",
    "archives": "gz bz2 zip tar tgz txz 7z",
}
EXTENSION_GROUPS["default"] = " ".join(
    EXTENSION_GROUPS[g] for g in ("documents", "text", "images", "data")
)


def allowed_extensions(setting: str) -> set[str]:
    """``"default"``, ``"images+audio"``, ``"any"`` or plain extensions, as kinto-attachment reads
    its ``extensions`` setting; an empty set allows any."""
    found: set[str] = set()
    for group in setting.split("+"):
        if group.strip() == "any":
            return set()
        found.update(EXTENSION_GROUPS.get(group.strip(), group.lower()).split())
    return found


def safe_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    if base in ("", ".", "..") or "\x00" in base:
        raise InvalidParameters.at("body", None, "Filename is required.")
    return base


def bad_request(message: str, errno: Errno = Errno.INVALID_PARAMETERS) -> HomeportError:
    """kinto-attachment's own errors: ``Bad Request`` and no details."""
    return HomeportError(message, code=400, errno=errno)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _form_json(form: Any, field: str) -> Any:
    raw = form.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise bad_request(
            f"body: {field!r} field should be passed as form data, not files",
            Errno.INVALID_POSTED_DATA,
        )
    try:
        return jsonio.loads_untrusted(raw)
    except ValueError as exc:
        raise bad_request(
            f"body: {field} is not valid JSON ({exc})", Errno.INVALID_POSTED_DATA
        ) from None


async def upload(
    ctx: Context, request: Request, user: User, bid: str, cid: str, rid: str
) -> Response:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    limit = ctx.settings.max_attachment_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise RequestTooLarge(f"Attachment is bigger than the limit of {limit} bytes")
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
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise bad_request("Content-Type should be multipart/form-data")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (StarletteHTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else exc.message
        raise bad_request(f"Invalid multipart body: {detail}") from None
    try:
        item = form.get("attachment")
        if not isinstance(item, UploadFile):
            raise bad_request("Attachment missing.", Errno.INVALID_POSTED_DATA)
        for field in form:
            if field not in ("attachment", "data", "permissions"):
                raise bad_request(
                    f"body: {field!r} not in ('data', 'permissions')", Errno.INVALID_POSTED_DATA
                )
        filename = safe_filename(item.filename)
        extensions = allowed_extensions(ctx.settings.attachment_extensions)
        extension = os.path.splitext(filename)[1].lower()
        if extensions and extension.lstrip(".") not in extensions:
            raise InvalidParameters.at("body", None, "File extension is not allowed.")
        data = _form_json(form, "data") or {}
        permissions = _form_json(form, "permissions")
        digest = await ctx.blobs.put_stream(_chunks(item), max_size=limit)
        mimetype = item.content_type or mimetypes.guess_type(filename)[0]
    finally:
        await form.close()
    attachment = {
        "filename": filename,
        "location": f"{origin_of(request)}/attachments/{bid}/{cid}/{rid}/"
        f"{secrets.token_urlsafe(18)}{extension}",
        "hash": digest,
        "mimetype": mimetype or "application/octet-stream",
        "size": ctx.blobs.size(digest),
    }
    if not isinstance(data, dict):
        raise InvalidParameters.at("body", "data", not_a_mapping(data))
    new_permissions = res.validate_permissions(RECORD, permissions) if permissions else None
    written = await _attach(
        ctx, user, parent, rid, {**data, "attachment": attachment}, new_permissions
    )
    headers = read_headers(written.obj["last_modified"])
    headers["Location"] = f"{origin_of(request)}/v1{uri}"
    status = 201 if written.created else 200
    body = jsonio.dumps(attachment)
    return Response(body, status, headers, media_type="application/json")


async def _attach(
    ctx: Context,
    user: User,
    parent: str,
    rid: str,
    changes: JSONObject,
    permissions: Permissions | None,
) -> writes.Written:
    """Patch the record (or create it), exactly as a PATCH of these fields would."""
    async with unit_of_work(ctx):
        existing = await res.find_object(ctx, RECORD, parent, rid)
        base = {k: v for k, v in (existing or {}).items() if k != "last_modified"}
        return await writes.save(
            ctx,
            user,
            RECORD,
            parent,
            rid,
            {**base, **changes},
            permissions,
            existing=existing,
            replace_permissions=False,
        )


async def remove(ctx: Context, user: User, bid: str, cid: str, rid: str) -> Response:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    await res.require(ctx, user, "record", RECORD.uri(parent, rid), "write")
    await res.ensure_parents(ctx, parent)
    await _attach(ctx, user, parent, rid, {"attachment": None}, None)
    return Response(status_code=204)


async def serve(ctx: Context, bid: str, cid: str, rid: str, name: str) -> Response:
    """Files are served by capability, as kinto-attachment's static files are: the location
    holds a random token that only readers of the record learn, and it dies with a re-upload."""
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(f"{parent}/records/{rid}")
    record = await ctx.store.get("record", parent, rid)
    attachment = record.get("attachment")
    if not isinstance(attachment, dict) or not str(attachment.get("location", "")).endswith(
        f"/{rid}/{name}"
    ):
        raise ObjectNotFound("attachment", rid)
    path = ctx.blobs.path(str(attachment["hash"]))
    if path is None:
        raise ObjectNotFound("attachment", rid)
    with open(path, "rb") as head:
        image = sniff_image(head.read(SNIFF_BYTES))
    declared = str(attachment.get("mimetype") or "")
    return FileResponse(
        path,
        media_type=image or (declared if MEDIA_TYPE.match(declared) else DEFAULT_TYPE),
        headers={
            "ETag": quoted(record["last_modified"]),
            "Cache-Control": "private",
            "Content-Security-Policy": USER_CONTENT_CSP,
        },
        content_disposition_type="inline" if image else "attachment",
        filename=header_safe(str(attachment.get("filename") or name)),
    )


SNIFF_BYTES = 16
DEFAULT_TYPE = "application/octet-stream"
MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+-]+)*$")
USER_CONTENT_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
"""For files anyone with write access may have uploaded: nothing in them runs, and a page that
opens one gets an opaque origin of its own, never the home's."""


def sniff_image(head: bytes) -> str | None:
    """The image type the first bytes prove, for the few formats a browser only ever displays
    (never SVG, which is a document that runs scripts); None for anything else. The type the
    uploader declared is not trusted: ``x.png`` sent as ``text/html`` is not an image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    return None


def header_safe(filename: str) -> str:
    """The filename for ``Content-Disposition``: no control characters, quotes or backslashes
    (they would end the header or its parameter early)."""
    return re.sub(r'[\x00-\x1f\x7f"\\]', "_", filename)
