"""The ActivityPub documents a provider answers at a site's root, outside ``/_homeport/``.

WebFinger (``/.well-known/webfinger``) and NodeInfo (``/.well-known/nodeinfo``,
``/nodeinfo/2.1``) are answered from the site's live tree: the home rendered the JRD into it
(``render/activitypub.py``), so the provider only checks the query against it for the host
asked (its own address for the tenant, or a verified custom domain). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from homeport import __version__, jsonio
from homeport.provider.db import ACTIVE, ProviderDB
from homeport.render import activitypub as ap

PATHS = frozenset({ap.WEBFINGER, ap.NODEINFO_INDEX, ap.NODEINFO})
MAX_QUERY = 4096
ReadFile = Callable[[str], "bytes | None"]


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def _json(status: int, kind: str, doc: object) -> Answer:
    return Answer(status, kind, jsonio.dumps(doc))


def _error(status: int, message: str) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", message.encode())


def answer(path: str, query: bytes, host: str, origin: str,
           read: ReadFile) -> Answer:
    """The answer for one of ``PATHS``; ``read(rel)`` gives a file of the live tree or None."""
    if path == ap.NODEINFO_INDEX:
        return _json(200, "application/json", ap.nodeinfo_index(origin))
    if path == ap.NODEINFO:
        outbox = _load(read(ap.OUTBOX.lstrip("/") + ap.AS2_SUFFIX))
        posts = outbox.get("totalItems") if isinstance(outbox, dict) else 0
        doc = ap.nodeinfo(__version__, False, posts if isinstance(posts, int) else 0)
        return _json(200, ap.NODEINFO_JSON, doc)
    if len(query) > MAX_QUERY:
        return _error(400, "The query is too long.")
    try:
        values = parse_qs(query.decode("utf-8"), strict_parsing=False).get("resource") or []
    except UnicodeDecodeError:
        values = []
    if len(values) != 1 or not values[0].strip():
        return _error(400, "WebFinger needs one resource parameter.")
    jrd = _load(read(ap.WEBFINGER_FILE))
    if not isinstance(jrd, dict):
        return _error(404, "This site is not on the fediverse.")
    found = ap.webfinger_answer(jrd, values[0], host)
    if found is None:
        return _error(404, "No such account here.")
    return _json(200, ap.JRD_JSON, found)


def site_count(db: ProviderDB) -> int:
    """The sites this provider serves (active tenants)."""
    return sum(1 for t in db.tenants() if t.state == ACTIVE)


def provider_nodeinfo(path: str, origin: str, sites: int, open_signup: bool) -> Answer:
    """NodeInfo at the provider's own name: each site is a user of this server."""
    if path == ap.NODEINFO_INDEX:
        return _json(200, "application/json", ap.nodeinfo_index(origin))
    doc = ap.nodeinfo(__version__, open_signup, 0)
    doc["usage"]["users"] = {"total": sites, "activeMonth": sites, "activeHalfyear": sites}
    return _json(200, ap.NODEINFO_JSON, doc)


def _load(raw: bytes | None) -> object:
    if raw is None:
        return None
    try:
        return jsonio.loads(raw)
    except ValueError:
        return None
