"""Reading files out of GUI forms: size-checked, and handed on as the spooled file Starlette
wrote to disk while the form arrived (past 1 MB), so a large upload is never held in memory."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile

from homeport.content.errors import MediaError
from homeport.content.media import Upload
from homeport.services.context import Context


def files(form: Any, field: str) -> list[UploadFile]:
    """The non-empty files sent in ``field`` (a browser sends an empty one when none chosen)."""
    return [f for f in form.getlist(field) if isinstance(f, UploadFile) and f.filename]


async def read(ctx: Context, file: UploadFile, alt: str | None = None) -> Upload:
    limit = ctx.settings.max_attachment_bytes
    if file.size is not None and file.size > limit:
        raise MediaError(f"{file.filename} is bigger than the limit of {limit} bytes")
    return Upload(file.filename or "file", b"", alt, file=file.file)


def text(form: Any, field: str, limit: int = 20_000) -> str:
    return str(form.get(field) or "").strip()[:limit]


def line(form: Any, field: str, limit: int = 300) -> str:
    return " ".join(str(form.get(field) or "").split())[:limit]
