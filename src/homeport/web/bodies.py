"""Request bodies, read whole up to a limit: the one way every endpoint reads one. A body
declared bigger than the limit is refused before any of it is read, and one that grows past it
as it arrives is refused there, so no client makes a process hold more than the limit; each
caller answers ``BodyTooLarge`` in its own protocol's shape (413)."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is (or says it is) bigger than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over the limit of {limit} bytes")
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body; ``BodyTooLarge`` past ``limit``, before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # where Starlette keeps a read body: ``form()`` and ``body()`` reuse it
    return body
