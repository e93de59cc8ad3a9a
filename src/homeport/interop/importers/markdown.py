"""A folder of Markdown files with front matter (Jekyll, Hugo, Pelican, Eleventy, or
Homeport's own ``export-to markdown``) → articles and pages.

Front matter is YAML between ``---`` lines, TOML between ``+++`` lines (Hugo) or Pelican's
``Key: value`` header; only flat keys are read (title, date, slug, tags, categories, draft,
published, summary/description, aliases/redirect_from, type, layout, visibility). Jekyll's
``_posts/YYYY-MM-DD-slug.md`` names give the date and slug. Files whose layout or type is
``page`` become pages. Images the text shows by a path inside the folder are copied in and
the text pointed at the copies; others are named in the report.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any

from homeport.content.media import Upload
from homeport.content.slugs import slugify
from homeport.interop.importers.common import Archive, Planned, image, iso, tags_of, write
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest
from homeport.interop.importers.wordpress import body_src

MAX_FILE = 5 * 1024 * 1024
_FENCES = {"---": re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S),
           "+++": re.compile(r"\A\+\+\+[ \t]*\n(.*?)\n\+\+\+[ \t]*\n", re.S)}
_PELICAN = re.compile(r"\A((?:[A-Za-z_]+:[^\n]*\n)+)\n", re.S)
_JEKYLL_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


def _scalar(raw: str) -> Any:
    raw = raw.strip()
    if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2:
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.startswith("[") and raw.endswith("]"):
        return [_scalar(v) for v in raw[1:-1].split(",") if v.strip()]
    return raw


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Flat front matter and the body; ``{}`` and the whole text when there is none."""
    for fence, pattern in _FENCES.items():
        found = pattern.match(text)
        if found:
            return _pairs(found.group(1), "=" if fence == "+++" else ":"), text[found.end():]
    found = _PELICAN.match(text)
    if found:
        return _pairs(found.group(1), ":"), text[found.end():]
    return {}, text


def _pairs(block: str, sep: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    last = ""
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and last:  # a YAML block list under the last key
            current = fields.get(last)
            fields[last] = [*(current if isinstance(current, list) else []),
                            _scalar(stripped[2:])]
            continue
        key, found, value = line.partition(sep)
        if not found or line[:1].isspace():
            continue
        last = key.strip().lower()
        fields[last] = _scalar(value) if value.strip() else []
    return fields


class MarkdownImporter:
    name = "markdown"
    title = "Markdown folder (Jekyll, Hugo, Pelican, Eleventy)"
    accepts = "a folder (or zip) of .md files with front matter"

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        folder = Archive(source)
        try:
            names = [n for n in folder.names() if n.lower().endswith((".md", ".markdown"))
                     and not PurePosixPath(n).name.lower().startswith("readme")]
            if not names:
                raise ImportFailed(f"{source.name} holds no Markdown files (.md)")
            for name in names:
                raw = folder.read(name) or b""
                if len(raw) > MAX_FILE:
                    yield ImportItem(name, "failed", "", "", "larger than 5 MB")
                    continue
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    yield ImportItem(name, "failed", "", "", "not UTF-8 text")
                    continue
                yield await write(request, self.name, _plan(folder, name, text))
        finally:
            folder.close()


def _plan(folder: Archive, name: str, text: str) -> Planned:
    meta, body = front_matter(text)
    stem = PurePosixPath(name).stem
    jekyll = _JEKYLL_NAME.match(stem)
    kind = "page" if "page" in (str(meta.get("layout", "")), str(meta.get("type", ""))) \
        else "article"
    notes: list[str] = []
    title = str(meta.get("title") or "").strip() or (jekyll.group(2) if jekyll else stem)
    fields: dict[str, Any] = {"title": title[:300]}
    slug = slugify(str(meta.get("slug") or (jekyll.group(2) if jekyll else stem)), "")
    if slug:
        fields["slug"] = slug
    published = _date(meta, jekyll)
    if published:
        fields["published"] = published
    if meta.get("draft") is True or meta.get("published") is False:
        fields["draft"] = True
    if meta.get("visibility") in ("public", "private"):
        fields["visibility"] = meta["visibility"]
    if kind == "article":
        tags = [*_list(meta.get("tags")), *_list(meta.get("categories")),
                *_list(meta.get("category"))]
        if tags:
            fields["tags"] = tags_of(tags)
        summary = meta.get("summary") or meta.get("description") or meta.get("excerpt")
        if isinstance(summary, str) and summary:
            fields["summary"] = summary[:2000]
    old = [p for p in [*_list(meta.get("aliases")), *_list(meta.get("redirect_from"))]
           if p.startswith("/") and ".." not in p.split("/")]
    if old:
        fields["old_paths"] = [p.rstrip("/") + "/" for p in old][:20]
    body, uploads = _images(folder, name, body, notes)
    fields["body"] = body.strip() or " "
    plan = Planned(name, kind, fields, notes=notes)
    if uploads and kind == "article":
        plan.attachments["images"] = uploads[:200]
    return plan


def _images(folder: Archive, name: str, body: str, notes: list[str]
            ) -> tuple[str, list[Upload]]:
    """Images the text shows by a path inside the folder, copied in, the text pointed at the
    copies (tried: from the folder's root, under Hugo's ``static/``, beside the file)."""
    uploads: list[Upload] = []

    def local(found: re.Match[str]) -> str:
        where = found.group(2)
        if where.startswith(("http://", "https://", "data:")):
            return found.group(0)
        base = PurePosixPath(name).parent
        for candidate in (where.lstrip("/"), f"static/{where.lstrip('/')}",
                          str(base / where)):
            data = folder.read(candidate)
            if data is not None:
                upload = image(data, where, "")
                if isinstance(upload, str):
                    notes.append(upload)
                    return found.group(0)
                uploads.append(upload)
                return found.group(1) + body_src(upload.data) + found.group(3)
        notes.append(f"media missing: {where}")
        return found.group(0)

    return _IMAGE.sub(local, body), uploads


def _date(meta: dict[str, Any], jekyll: re.Match[str] | None) -> str | None:
    given = str(meta.get("date") or "")
    if re.match(r"^\d{4}-\d{2}-\d{2}$", given):
        return given
    return iso(given) or (jekyll.group(1) if jekyll else None)


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value:
        return [v.strip() for v in value.split(",")] if "," in value else [value]
    return []
