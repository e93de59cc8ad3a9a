"""The "Webmentions sent" page: every (entry, link) the home told about a publish, the endpoint
it found, the receiver's answer and how many attempts it took (``interop/sending.py``). Read
from the sender's own file at home; none of it is published."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.responses import Response

from homeport.gui.pages import Page, _env, page
from homeport.interop import sending


def _moment(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters.setdefault("moment", _moment)


@page()
async def index(p: Page) -> Response:
    sends = await asyncio.to_thread(sending.history, p.ctx.settings)
    return p.render("sent_mentions.html", sends=sends, queued=sending.QUEUED)
