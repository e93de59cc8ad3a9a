"""``homeport add note|article|photo|paper``: write entries from the command line.

Every file is read and checked before anything is written, so a bad photo among several, or a
PDF that is not a PDF, leaves the site as it was.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import SiteOption, pick_site, run
from homeport.cli.common import DataOption, fail

if TYPE_CHECKING:
    from homeport.content.media import Upload
    from homeport.content.sites import Entry
    from homeport.services.context import Context

add_app = typer.Typer(help="Add an entry (note, article, photo, paper) to a site.",
                      no_args_is_help=True)

TagOption = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")]
DraftOption = Annotated[bool, typer.Option("--draft", help="Save as a draft (not published).")]
PrivateOption = Annotated[bool, typer.Option("--private", help="Visible to you only.")]
VisibilityOption = Annotated[str | None, typer.Option(
    "--visibility", help="public, private, members (any member) or a tier's id "
                         "(homeport tiers list): who may read it.")]


async def _check_visibility(context: Context, visibility: str | None) -> None:
    """``members`` and tiers need a tier that exists (or, for ``members``, nothing more)."""
    if visibility is None or visibility in ("public", "private", "members"):
        return
    from homeport.members import store

    tiers = await store.tiers_by_id(context)
    if visibility not in tiers:
        known = ", ".join(["public", "private", "members", *sorted(tiers)])
        raise fail(f"--visibility {visibility!r} is none of: {known}")


def _common(tags: list[str] | None, draft: bool, private: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"draft": draft, "visibility": "private" if private else "public"}
    if tags:
        fields["tags"] = list(dict.fromkeys(tags))
    return fields


def _report(entry: Entry) -> None:
    typer.echo(f"Added {entry.type} {entry.path} (id {entry.id})")


def _read(path: Path, alt: str | None = None) -> Upload:
    from homeport.content.media import Upload

    try:
        return Upload(path.name, path.read_bytes(), alt)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_images(uploads: list[Upload]) -> None:
    from homeport.content import media
    from homeport.content.errors import MediaError

    for upload in uploads:
        try:
            media.check_image(upload.data, upload.filename)
        except MediaError as exc:
            raise fail(str(exc.message)) from None


@add_app.command("note")
def note(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The note's text (Markdown).")],
    photo: Annotated[list[Path] | None, typer.Option("--photo", help="Up to 4 photos.")] = None,
    alt: Annotated[list[str] | None, typer.Option("--alt", help="Alt text, one per photo.")] = None,
    reply_to: Annotated[str | None, typer.Option("--reply-to", help="URL replied to.")] = None,
    site: SiteOption = None,
    tag: TagOption = None,
    draft: DraftOption = False,
    private: PrivateOption = False,
    data: DataOption = None,
) -> None:
    """Add a short note, optionally with photos and as a reply to a URL."""
    photos = photo or []
    alts = alt or []
    if len(photos) > 4:
        raise fail("a note has at most 4 photos")
    if len(alts) != len(photos):
        raise fail("give one --alt text per --photo (it describes the photo to people who "
                   "cannot see it)")
    uploads = [_read(p, a) for p, a in zip(photos, alts, strict=True)]
    _check_images(uploads)
    fields = {"text": text, **_common(tag, draft, private)}
    if reply_to:
        fields["reply_to"] = reply_to

    async def work(context: Context) -> Entry:
        from homeport.content import sites

        name = await pick_site(context, site, create=True)
        return await sites.add_entry(context, name, "note", fields,
                                     {"photos": uploads} if uploads else None)

    _report(run(ctx, data, work))


FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``---\\ntitle: X\\ntags: [a, b]\\n---\\nbody`` → fields and body; simple ``key: value``
    lines only (no nested YAML), which is what static-site generators' front matter uses."""
    found = FRONT_MATTER.match(text)
    if not found:
        return {}, text
    fields: dict[str, Any] = {}
    for line in found.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"front matter line {line!r} is not 'key: value'")
        fields[key.strip().lower()] = _value(key.strip().lower(), value.strip())
    return fields, text[found.end():]


def _value(key: str, raw: str) -> Any:
    raw = raw.strip()
    if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2:
        raw = raw[1:-1]
    if key in ("tags", "category", "categories"):
        inner = raw.strip("[]")
        return [t.strip().strip("\"'") for t in inner.split(",") if t.strip()]
    if key == "draft":
        return raw.lower() in ("true", "yes", "1")
    return raw


ARTICLE_KEYS = {"title", "summary", "slug", "published", "date", "tags", "category",
                "categories", "draft", "visibility"}


def article_fields(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path} as UTF-8 text: {exc}") from None
    try:
        meta, body = parse_front_matter(text)
    except ValueError as exc:
        raise fail(f"{path}: {exc}") from None
    unknown = set(meta) - ARTICLE_KEYS
    if unknown:
        raise fail(f"{path}: unknown front matter keys: {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {"body": body.lstrip("\n")}
    title = meta.get("title")
    heading = re.match(r"\A#\s+(.+)\n", fields["body"])
    if not title and heading:
        title = heading.group(1).strip()
        fields["body"] = fields["body"][heading.end():].lstrip("\n")
    fields["title"] = title or path.stem.replace("-", " ").replace("_", " ")
    for key in ("summary", "slug", "visibility", "draft"):
        if key in meta:
            fields[key] = meta[key]
    if meta.get("published") or meta.get("date"):
        fields["published"] = str(meta.get("published") or meta.get("date")).replace(" ", "T")
    tags = meta.get("tags") or meta.get("categories") or meta.get("category")
    if tags:
        fields["tags"] = list(dict.fromkeys(tags))
    return fields


@add_app.command("article")
def article(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A Markdown file, front matter optional.")],
    site: SiteOption = None,
    tag: TagOption = None,
    draft: DraftOption = False,
    private: PrivateOption = False,
    visibility: VisibilityOption = None,
    data: DataOption = None,
) -> None:
    """Add an article from a Markdown file (front matter: title, summary, tags, date, slug)."""
    if private and visibility not in (None, "private"):
        raise fail("--private and --visibility say different things: give one")
    fields = article_fields(file)
    common = _common(tag, draft, private)
    if visibility is not None:
        common["visibility"] = visibility
    if tag:
        common["tags"] = list(dict.fromkeys([*fields.get("tags", []), *tag]))
    if not draft:
        common.pop("draft")
    fields.update(common)

    async def work(context: Context) -> Entry:
        from homeport.content import sites

        await _check_visibility(context, visibility)

        name = await pick_site(context, site, create=True)
        return await sites.add_entry(context, name, "article", fields)

    _report(run(ctx, data, work))


@add_app.command("photo")
def photo(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="One or more images (JPEG, PNG, HEIC…).")],
    alt: Annotated[str | None, typer.Option("--alt", help="Alt text describing the photo "
                   "(asked for when missing at a terminal).")] = None,
    caption: Annotated[str | None, typer.Option("--caption", help="A caption.")] = None,
    site: SiteOption = None,
    tag: TagOption = None,
    draft: DraftOption = False,
    private: PrivateOption = False,
    data: DataOption = None,
) -> None:
    """Add photos, one entry each; every file is checked before any is added."""
    uploads = [_read(f) for f in files]
    _check_images(uploads)
    alts = []
    for upload in uploads:
        text = alt
        if not text and sys.stdin.isatty():
            text = str(typer.prompt(f"Alt text for {upload.filename} (what it shows)"))
        if not text or not text.strip():
            raise fail(f"alt text is required for {upload.filename}: give --alt "
                       "(it describes the photo to people who cannot see it)")
        alts.append(text.strip())
    base = _common(tag, draft, private)
    if caption:
        base["caption"] = caption

    async def work(context: Context) -> list[Entry]:
        from homeport.content import sites

        name = await pick_site(context, site, create=True)
        added = []
        for upload, text in zip(uploads, alts, strict=True):
            fields = {**base, "alt": text}
            added.append(await sites.add_entry(context, name, "photo", fields,
                                               {"image": upload}))
        return added

    for entry in run(ctx, data, work):
        _report(entry)


@add_app.command("paper")
def paper(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The paper as a PDF.")],
    title: Annotated[str, typer.Option("--title", help="The paper's title.")],
    authors: Annotated[list[str], typer.Option("--authors", help="Authors, separated by ';' "
                       "or ',' (repeatable).")],
    year: Annotated[int | None, typer.Option("--year")] = None,
    venue: Annotated[str | None, typer.Option("--venue", help="Journal or conference.")] = None,
    doi: Annotated[str | None, typer.Option("--doi")] = None,
    abstract: Annotated[str | None, typer.Option("--abstract")] = None,
    site: SiteOption = None,
    tag: TagOption = None,
    draft: DraftOption = False,
    private: PrivateOption = False,
    data: DataOption = None,
) -> None:
    """Add a paper: a page with its abstract, the PDF, and BibTeX / CSL-JSON citations."""
    from homeport.content import media
    from homeport.content.errors import MediaError

    upload = _read(file)
    try:
        media.check_pdf(upload.data, upload.filename)
    except MediaError as exc:
        raise fail(str(exc.message)) from None
    names = [n.strip() for given in authors
             for n in given.split(";" if ";" in given else ",") if n.strip()]
    if not names:
        raise fail("give at least one author with --authors")
    fields: dict[str, Any] = {"title": title, "authors": names, **_common(tag, draft, private)}
    for key, value in (("year", year), ("venue", venue), ("doi", doi), ("abstract", abstract)):
        if value is not None:
            fields[key] = value

    async def work(context: Context) -> Entry:
        from homeport.content import sites

        name = await pick_site(context, site, create=True)
        return await sites.add_entry(context, name, "paper", fields, {"pdf": upload})

    _report(run(ctx, data, work))


def register(root: typer.Typer) -> None:
    root.add_typer(add_app, name="add")
