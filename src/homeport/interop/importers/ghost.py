"""Ghost's JSON export (Settings → Labs → Export: ``{"db": [{"meta": …, "data": {"posts",
"tags", "posts_tags", …}}]}``) → articles and pages.

Posts keep slug, ``published_at``, ``custom_excerpt``, tags (internal ``#tags`` left out) and
their HTML (``html``; a post only stored as ``mobiledoc``/``lexical`` is reported, not
guessed). ``draft`` and ``scheduled`` stay drafts; ``members`` and ``paid`` visibility become
``members``. SOURCE is the ``.json`` file, or a folder or zip holding it and Ghost's
``content/images/…``, from which the feature image and inline images are copied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeport import jsonio
from homeport.content.media import Upload
from homeport.interop.importers.common import Archive, Planned, image, iso, tags_of, write
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest
from homeport.interop.importers.wordpress import body_src

MAX_JSON = 256 * 1024 * 1024
GHOST_URL = "__GHOST_URL__"


def _data(raw: bytes, name: str) -> dict[str, Any]:
    try:
        found = jsonio.loads_untrusted(raw)
    except ValueError as exc:
        raise ImportFailed(f"{name} is not readable JSON: {exc}") from None
    db = found.get("db") if isinstance(found, dict) else None
    first = db[0] if isinstance(db, list) and db and isinstance(db[0], dict) else found
    data = first.get("data") if isinstance(first, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
        raise ImportFailed(f"{name} is not a Ghost export (no db[0].data.posts)")
    return data


class GhostImporter:
    name = "ghost"
    title = "Ghost export (JSON)"
    accepts = "the .json file Ghost exports, or a folder or zip with it and content/images"

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        files = Archive(source.parent if source.is_file() and source.suffix == ".json"
                        else source)
        try:
            if source.is_file() and source.suffix == ".json":
                if source.stat().st_size > MAX_JSON:
                    raise ImportFailed(f"{source.name} is larger than {MAX_JSON} bytes")
                raw, name = source.read_bytes(), source.name
            else:
                jsons = [n for n in files.names() if n.endswith(".json")
                         and "content/" not in n]
                if not jsons:
                    raise ImportFailed(f"{source.name} holds no Ghost export (.json)")
                raw, name = files.read(jsons[0]) or b"", jsons[0]
            data = _data(raw, name)
            tags = {str(t.get("id")): t for t in data.get("tags") or [] if isinstance(t, dict)}
            by_post: dict[str, list[str]] = {}
            links = sorted((x for x in data.get("posts_tags") or [] if isinstance(x, dict)),
                           key=lambda x: int(x.get("sort_order") or 0))
            for link in links:
                tag = tags.get(str(link.get("tag_id")))
                if tag and tag.get("visibility", "public") == "public" and tag.get("name"):
                    by_post.setdefault(str(link.get("post_id")), []).append(str(tag["name"]))
            for post in data["posts"]:
                if not isinstance(post, dict) or not post.get("id"):
                    yield ImportItem("?", "failed", "", "", "a post without an id")
                    continue
                yield await write(request, self.name,
                                  _plan(files, post, by_post.get(str(post["id"]), [])))
        finally:
            files.close()


def _plan(files: Archive, post: dict[str, Any], tags: list[str]) -> Planned:
    kind = "page" if post.get("type") == "page" else "article"
    notes: list[str] = []
    html = str(post.get("html") or "")
    if not html and (post.get("mobiledoc") or post.get("lexical")):
        notes.append("no rendered HTML in the export (only mobiledoc/lexical): body left empty")
    fields: dict[str, Any] = {"title": (str(post.get("title") or "").strip() or "Untitled")[:300]}
    if post.get("slug"):
        fields["slug"] = str(post["slug"])
    published = iso(str(post.get("published_at") or "").replace(".000Z", "Z")) or iso(
        str(post.get("created_at") or "").replace(".000Z", "Z"))
    if published:
        fields["published"] = published
    if post.get("status") in ("draft", "scheduled", "sent"):
        fields["draft"] = post.get("status") != "sent"
    if post.get("visibility") in ("members", "paid", "tiers"):
        fields["visibility"] = "members"
    if kind == "article":
        if tags:
            fields["tags"] = tags_of(tags)
        if post.get("custom_excerpt"):
            fields["summary"] = str(post["custom_excerpt"])[:2000]
    uploads: list[Upload] = []
    wanted = [str(post["feature_image"])] if post.get("feature_image") else []
    wanted += [part.split('"', 1)[0] for part in html.split(f'src="{GHOST_URL}')[1:]]
    for where in wanted:
        path = where.replace(GHOST_URL, "").lstrip("/")
        data = files.read(path) if path.startswith("content/images/") else None
        if data is None:
            notes.append(f"media missing: {where}")
            continue
        upload = image(data, path, str(post.get("feature_image_alt") or ""))
        if isinstance(upload, str):
            notes.append(upload)
            continue
        uploads.append(upload)
        html = html.replace(f"{GHOST_URL}/{path}", body_src(upload.data))
    fields["body"] = html or " "
    plan = Planned(f"post/{post['id']}", kind, fields, notes=notes)
    if uploads and kind == "article":
        plan.attachments["images"] = uploads
    return plan
