"""What every importer shares: derived record ids (so a re-run finds what an earlier run
made), the write-or-report step, safe reading of archives, and a rough HTML → text.

An imported entry's record id is derived from the importer's name and the item's id in the
source, and the record keeps ``import_hash``, a digest of what was imported: a re-run over the
same source finds the record with the same digest and reports ``unchanged`` without writing.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import os
import re
import tarfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from homeport import jsonio
from homeport.content.errors import ContentError, MediaError
from homeport.content.media import Upload, check_image, premake_variants
from homeport.content.slugs import valid_slug
from homeport.content.types import SLUGS_COLLECTION, collection_uri, entry_type
from homeport.core.errors import HomeportError, ObjectNotFound
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest

MAX_MEMBER = 200 * 1024 * 1024
"""One file inside an archive may not expand beyond this (zip bombs)."""
MAX_TOTAL = 4 * 1024 * 1024 * 1024
"""Nor may the whole archive."""
MAX_RATIO = 200
"""Nor may a member expand more than this many times (a real photo or JSON file does not)."""
OLD_PATH = re.compile(r"^/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,500}$")


def entry_id(importer: str, source_id: str) -> str:
    """The record id an item of a source always becomes (a UUID, as Kinto's ids look)."""
    digest = hashlib.sha256(f"{importer}\0{source_id}".encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def old_path(url: str) -> str | None:
    """The path of an old URL, kept so the site redirects it; None when unusable."""
    path = re.sub(r"^[a-z]+://[^/]*", "", url.strip()) or "/"
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not OLD_PATH.match(path) or ".." in path.split("/") or path == "/":
        return None
    return path.rstrip("/") + "/"


@dataclass
class Planned:
    """One entry an importer wants: its type, fields and media, and where it came from."""

    source_id: str
    type: str
    fields: dict[str, Any]
    attachments: dict[str, list[Upload]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Said in the item's report (media missing, shortcodes dropped…)."""


def _digest(plan: Planned) -> str:
    media = {k: [hashlib.sha256(u.data).hexdigest() for u in v]
             for k, v in plan.attachments.items()}
    return hashlib.sha256(jsonio.dumps([plan.type, plan.fields, media])).hexdigest()


async def write(request: ImportRequest, importer: str, plan: Planned) -> ImportItem:
    """Create (or, when the source changed, update) the entry ``plan`` describes; in a dry
    run say what would happen. Never raises for one item's problem: it becomes ``failed``."""
    from homeport.content import sites

    ctx, site = request.ctx, request.site
    kind = entry_type(plan.type)
    record_id = entry_id(importer, plan.source_id)
    digest = _digest(plan)
    note = "; ".join(plan.notes)
    try:
        existing: dict[str, Any] | None = await ctx.store.get(
            "record", collection_uri(site, kind.collection), record_id)
    except ObjectNotFound:
        existing = None
    fields = {**plan.fields, "import_hash": digest}
    try:
        if existing is None and not request.dry_run:
            await _ensure_site(request)
        if existing is not None:
            target = kind.path(str(existing["slug"]))
            if existing.get("import_hash") == digest:
                return ImportItem(plan.source_id, "unchanged", kind.name, target, note)
            if not request.dry_run:
                fields.pop("slug", None)  # a slug once given is never silently changed
                await sites.update_entry(ctx, site, kind.name, record_id, fields,
                                         _attachments(plan))
            return ImportItem(plan.source_id, "updated", kind.name, target, note)
        slug = str(fields.get("slug") or "")
        if slug and not await _slug_free(request, slug):
            fields.pop("slug")
            note = "; ".join([*plan.notes, f"slug {slug!r} was taken: a new one was chosen"])
        if request.dry_run:
            return ImportItem(plan.source_id, "created", kind.name,
                              kind.path(str(fields.get("slug") or "…")), note)
        entry = await sites.add_entry(ctx, site, kind.name, fields, _attachments(plan),
                                      entry_id=record_id)
        return ImportItem(plan.source_id, "created", kind.name, entry.path, note)
    except (ContentError, HomeportError) as exc:
        return ImportItem(plan.source_id, "failed", kind.name, "", str(exc.message or exc))


BATCH = 100
"""Items written in one transaction by ``write_all``."""


class _Redo(Exception):
    """A batch had a failed item: roll it back and write its items one by one."""


async def write_all(request: ImportRequest, importer: str,
                    plans: Iterable[Planned | ImportItem]) -> AsyncIterator[ImportItem]:
    """``write`` for a whole source, quicker: ``BATCH`` items a transaction, each reported
    once committed, and the images of the next batch turned into variants by a pool of
    worker threads while this one is written (``store_image`` then finds them made).

    A batch in which an item fails is rolled back and written again an item a transaction,
    so one bad item never takes the others with it (on PostgreSQL a failed statement spoils
    the rest of its transaction). ``plans`` may hold ``ImportItem``s (skipped items), passed
    through in order."""
    from homeport.content.sites import IMAGE_FIELDS

    loop = asyncio.get_running_loop()
    keep = await _keep_location(request)
    data_dir = request.ctx.settings.data_dir
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2,
                            thread_name_prefix="import-variants") as pool:
        ahead: tuple[list[Planned | ImportItem], list[asyncio.Future[None]]] | None = None
        for chunk in _batches(plans, BATCH):
            jobs = [] if request.dry_run else [
                loop.run_in_executor(pool, functools.partial(
                    premake_variants, data_dir, upload.content(), keep_location=keep))
                for plan in chunk if isinstance(plan, Planned)
                for field_name, uploads in plan.attachments.items()
                if (plan.type, field_name) in IMAGE_FIELDS for upload in uploads]
            if ahead is not None:
                for item in await _write_batch(request, importer, *ahead):
                    yield item
            ahead = (chunk, jobs)
        if ahead is not None:
            for item in await _write_batch(request, importer, *ahead):
                yield item


def _batches(plans: Iterable[Planned | ImportItem], size: int
             ) -> Iterator[list[Planned | ImportItem]]:
    chunk: list[Planned | ImportItem] = []
    for plan in plans:
        chunk.append(plan)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _write_batch(request: ImportRequest, importer: str,
                       chunk: list[Planned | ImportItem],
                       jobs: list[asyncio.Future[None]]) -> list[ImportItem]:
    from homeport.services.resources import unit_of_work

    await asyncio.gather(*jobs, return_exceptions=True)  # store_image redoes what failed

    async def one(plan: Planned | ImportItem) -> ImportItem:
        return plan if isinstance(plan, ImportItem) else await write(request, importer, plan)

    if request.dry_run:
        return [await one(plan) for plan in chunk]
    try:
        async with unit_of_work(request.ctx):
            done = []
            for plan in chunk:
                done.append(await one(plan))
                if done[-1].action == "failed" and isinstance(plan, Planned):
                    raise _Redo
            return done
    except _Redo:
        request.ctx.caches.pop(_site_known(request), None)  # its creation was rolled back
        return [await one(plan) for plan in chunk]


async def _keep_location(request: ImportRequest) -> bool:
    """The site's ``keep_location`` (variants made with or without GPS data); a site the
    import will create has the default, False."""
    from homeport.content import sites

    try:
        return bool((await sites.get_site(request.ctx, request.site)).get("keep_location"))
    except (ContentError, HomeportError):
        return False


def _site_known(request: ImportRequest) -> str:
    return f"import.site.{request.site}.{id(request)}"


async def _ensure_site(request: ImportRequest) -> None:
    from homeport.content import sites

    known = _site_known(request)  # once per run, not per entry
    if request.ctx.caches.get(known):
        return
    if request.site not in await sites.list_sites(request.ctx):
        await sites.create_site(request.ctx, request.site, request.site.capitalize())
    request.ctx.caches[known] = True


def _attachments(plan: Planned) -> dict[str, Upload | Sequence[Upload]] | None:
    return dict(plan.attachments) if plan.attachments else None


async def _slug_free(request: ImportRequest, slug: str) -> bool:
    if not valid_slug(slug):
        return False
    try:
        await request.ctx.store.get("record", collection_uri(request.site, SLUGS_COLLECTION),
                                    slug)
    except ObjectNotFound:
        return True
    return False


def image(data: bytes, filename: str, alt: str) -> Upload | str:
    """An image to import, or why it cannot be (a missing or broken file is noted, not fatal)."""
    try:
        check_image(data, filename)
    except MediaError as exc:
        return f"{filename}: {exc.message}"
    return Upload(PurePosixPath(filename).name, data, alt)


REMOTE_LIMIT = 64 * 1024 * 1024
"""The most one remote medium may hold (and never more than ``max_attachment_bytes``)."""


def remote_media(request: ImportRequest) -> bool:
    """``--option remote_media=yes``: media the source names by URL are fetched."""
    return options_flag(request.options, "remote_media")


async def fetch_remote(request: ImportRequest, url: str) -> bytes | str:
    """A medium the source names by URL, fetched through ``web/outbound.py`` (the address
    checked as ``fetch_allow_private`` says, redirects checked, size and time bounded); or
    why not, for the item's report."""
    from homeport.web.outbound import FetchRefused, fetch, policy

    settings = request.ctx.settings
    limit = min(REMOTE_LIMIT, settings.max_attachment_bytes)
    try:
        found = await fetch(url, permitted=policy(settings.fetch_allow_private), limit=limit,
                            timeout=15.0)
    except FetchRefused as exc:
        return f"remote media not copied: {exc}"
    except Exception as exc:  # an unreachable host, a reset connection, a timeout
        return f"remote media not copied: {url} ({type(exc).__name__})"
    if found.status != 200:
        return f"remote media not copied: {url} answered {found.status}"
    return found.body


# ---- archives ------------------------------------------------------------------------------


def safe_member(name: str) -> str | None:
    """A member name as a relative POSIX path, or None when it would leave the archive
    (absolute, ``..``, drive letters, backslashes)."""
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class Archive:
    """Read-only view of a folder, a zip or a tar(.gz) by member name, with bounds on what a
    member may expand to. Never extracts to disk, so path traversal cannot write anywhere;
    traversing names are simply absent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._names: dict[str, Any] = {}
        if path.is_dir():
            root = path.resolve()
            for found in root.rglob("*"):
                if found.is_file() and not found.is_symlink():
                    self._names[found.relative_to(root).as_posix()] = found
            return
        try:
            if zipfile.is_zipfile(path):
                self._zip = zipfile.ZipFile(path)
                infos: list[Any] = self._zip.infolist()
                total = 0
                for info in infos:
                    name = safe_member(info.filename)
                    if name is None or info.is_dir():
                        continue
                    total += info.file_size
                    if (info.file_size > MAX_MEMBER or total > MAX_TOTAL or info.file_size
                            > MAX_RATIO * max(info.compress_size, 1024)):
                        raise ImportFailed(f"{path.name}: {info.filename!r} would expand to "
                                           f"{info.file_size} bytes: refused as a zip bomb")
                    self._names[name] = info
            else:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - kept open, closed in close()
                for member in self._tar.getmembers():
                    name = safe_member(member.name)
                    if name is None or not member.isfile():
                        continue
                    if member.size > MAX_MEMBER:
                        raise ImportFailed(f"{path.name}: {member.name!r} is too large")
                    self._names[name] = member
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            reason = str(exc).splitlines()[0].rstrip(":") or type(exc).__name__
            raise ImportFailed(f"{path.name} is not a readable zip or tar archive "
                               f"({reason})") from None

    def names(self) -> list[str]:
        return sorted(self._names)

    def find(self, suffix: str) -> str | None:
        """The shortest member name that is ``suffix`` or ends with ``/suffix``."""
        hits = [n for n in self._names if n == suffix or n.endswith("/" + suffix)]
        return min(hits, key=len) if hits else None

    def read(self, name: str) -> bytes | None:
        """The member's bytes, None when it is absent (or left the archive)."""
        safe = safe_member(name)
        found = self._names.get(safe) if safe else None
        if found is None:
            return None
        if isinstance(found, Path):
            return found.read_bytes()
        if self._zip is not None:
            with self._zip.open(found) as stream:
                data = stream.read(MAX_MEMBER + 1)
        else:
            assert self._tar is not None
            member = self._tar.extractfile(found)
            if member is None:
                return None
            data = member.read(MAX_MEMBER + 1)
        if len(data) > MAX_MEMBER:
            raise ImportFailed(f"{name!r} expands beyond {MAX_MEMBER} bytes: refused")
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._tar is not None:
            self._tar.close()


# ---- text ----------------------------------------------------------------------------------

_BREAK = re.compile(r"<br\s*/?>", re.I)
_PARA_END = re.compile(r"</p\s*>\s*", re.I)
_LINK = re.compile(r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(text: str) -> str:
    """Mastodon's and tweets' small HTML → Markdown-ish text: paragraphs, line breaks, links
    whose words differ from their address as ``[words](url)``, mentions and tags as words."""

    def link(found: re.Match[str]) -> str:
        href, words = found.group(1), _TAG.sub("", found.group(2))
        plain = html.unescape(words)
        if plain.startswith(("#", "@")) or html.unescape(href).endswith(plain.split("…")[0]):
            return words if plain.startswith(("#", "@")) else html.unescape(href)
        return f"[{plain}]({html.unescape(href)})"

    text = _BREAK.sub("\n", text)
    text = _PARA_END.sub("\n\n", text)
    text = _LINK.sub(link, text)
    return html.unescape(_TAG.sub("", text)).strip()


def tags_of(names: Sequence[str]) -> list[str]:
    """Up to 32 distinct tags fit for the schema (no slashes, ≤ 64 characters)."""
    found: dict[str, None] = {}
    for name in names:
        name = name.strip().lstrip("#").replace("/", "-").replace("\\", "-")[:64].strip()
        if name:
            found.setdefault(name, None)
    return list(found)[:32]


_DATE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def iso(value: str) -> str | None:
    """``2020-01-02 03:04:05`` (WordPress GMT) or ISO 8601 → ``2020-01-02T03:04:05Z``."""
    value = value.strip()
    found = _DATE.match(value)
    if not found or found.group(1) == "0000-00-00":
        return None
    zone = found.group(3) or "Z"
    if zone not in ("Z",) and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    clock = found.group(2) if found.group(2).count(":") == 2 else found.group(2) + ":00"
    return f"{found.group(1)}T{clock}{zone}"


def options_flag(options: Mapping[str, str], key: str) -> bool:
    return options.get(key, "").lower() in ("1", "true", "yes", "on")


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
