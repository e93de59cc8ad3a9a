"""One edit re-renders only the pages that show it, and unchanged files are never rewritten."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.content import sites
from homeport.render import parallel
from homeport.render.build import build_site, output_files
from homeport.render.themes import ThemeError
from homeport.services.context import Context

BASE = "https://ex.org/"


def add(ctx: Context, title: str, tags: list[str]) -> sites.Entry:
    fields = {"title": title, "body": f"Body of {title}", "tags": tags}
    return asyncio.run(sites.add_entry(ctx, "blog", "article", fields))


def build(ctx: Context, out: Path) -> list[str]:
    return sorted(asyncio.run(build_site(ctx, "blog", out, BASE)).written)


def mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_a_second_build_writes_nothing(ctx: Context, tmp_path: Path) -> None:
    add(ctx, "One", ["x"])
    out = tmp_path / "out"
    assert "index.html" in build(ctx, out)
    before = mtimes(out)
    assert build(ctx, out) == []
    assert mtimes(out) == before


def test_editing_a_body_touches_the_entry_and_the_feeds_only(ctx: Context, tmp_path: Path) -> None:
    first = add(ctx, "One", ["x"])
    add(ctx, "Two", ["y"])
    out = tmp_path / "out"
    build(ctx, out)
    before = mtimes(out)
    asyncio.run(sites.update_entry(ctx, "blog", "article", first.id, {"body": "New words"}))
    written = build(ctx, out)
    assert written == sorted([
        "articles/one/index.html", "feed.atom", "feed.json", "feed.rss",
        "tags/x/feed.atom", "tags/x/feed.json", "tags/x/feed.rss",
    ])
    after = mtimes(out)
    untouched = [p for p in before if p not in written]
    assert all(after[p] == before[p] for p in untouched)
    assert "New words" in (out / "articles/one/index.html").read_text()


def test_a_title_change_reaches_the_lists(ctx: Context, tmp_path: Path) -> None:
    first = add(ctx, "One", ["x"])
    out = tmp_path / "out"
    build(ctx, out)
    asyncio.run(sites.update_entry(ctx, "blog", "article", first.id, {"title": "Uno"}))
    written = build(ctx, out)
    for page in ("index.html", "articles/index.html", "archive/index.html",
                 "tags/x/index.html", "articles/one/index.html"):
        assert page in written
    assert "Uno" in (out / "archive/index.html").read_text()


def test_drafts_and_private_entries_are_not_published(ctx: Context, tmp_path: Path) -> None:
    asyncio.run(sites.add_entry(ctx, "blog", "article",
                                {"title": "Secret", "body": "s", "visibility": "private"}))
    asyncio.run(sites.add_entry(ctx, "blog", "article",
                                {"title": "Later", "body": "l", "draft": True}))
    out = tmp_path / "out"
    build(ctx, out)
    assert not (out / "articles/secret").exists()
    assert not (out / "articles/later").exists()
    assert "Secret" not in (out / "feed.atom").read_text()


def test_unpublishing_removes_the_page(ctx: Context, tmp_path: Path) -> None:
    entry = add(ctx, "One", ["x"])
    out = tmp_path / "out"
    build(ctx, out)
    asyncio.run(sites.update_entry(ctx, "blog", "article", entry.id, {"draft": True}))
    build(ctx, out)
    assert not (out / "articles/one").exists()
    assert not (out / "tags/x").exists()
    assert all(not f.path.startswith("articles/one") for f in output_files(ctx, "blog", out))


def test_an_old_slug_redirects_to_the_new_one(ctx: Context, tmp_path: Path) -> None:
    entry = add(ctx, "One", [])
    asyncio.run(sites.update_entry(ctx, "blog", "article", entry.id, {"slug": "first"}))
    out = tmp_path / "out"
    build(ctx, out)
    old = (out / "articles/one/index.html").read_text()
    assert 'content="0; url=https://ex.org/articles/first/"' in old
    assert '<link rel="canonical" href="https://ex.org/articles/first/">' in old


def test_output_files_list_every_file_with_its_hash(ctx: Context, tmp_path: Path) -> None:
    add(ctx, "One", ["x"])
    out = tmp_path / "out"
    result = asyncio.run(build_site(ctx, "blog", out, BASE))
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {f.path for f in result.files} == on_disk
    assert output_files(ctx, "blog", out) == result.files


def test_pages_are_paginated(ctx: Context, tmp_path: Path) -> None:
    asyncio.run(sites.update_site(ctx, "blog", {"per_page": 2}))
    for n in range(5):
        add(ctx, f"Post {n}", ["t"])
    out = tmp_path / "out"
    build(ctx, out)
    assert (out / "page/3/index.html").exists()
    assert not (out / "page/4").exists()
    second = (out / "page/2/index.html").read_text()
    assert 'rel="prev" href="/"' in second and 'rel="next" href="/page/3/"' in second
    assert (out / "tags/t/page/3/index.html").exists()


def test_links_follow_the_base_url_path(ctx: Context, tmp_path: Path) -> None:
    add(ctx, "One", [])
    out = tmp_path / "out"
    asyncio.run(build_site(ctx, "blog", out, "http://127.0.0.1:8750/preview/blog/"))
    html = (out / "index.html").read_text()
    assert 'href="/preview/blog/articles/one/"' in html
    assert '<link rel="canonical" href="http://127.0.0.1:8750/preview/blog/">' in html


def test_a_deleted_entry_disappears_on_the_next_build(ctx: Context, tmp_path: Path) -> None:
    keep = add(ctx, "Keep", [])
    gone = add(ctx, "Gone", [])
    out = tmp_path / "out"
    build(ctx, out)  # the process now caches the site's records
    asyncio.run(sites.delete_entry(ctx, "blog", "article", gone.id))
    asyncio.run(sites.update_entry(ctx, "blog", "article", keep.id, {"title": "Kept"}))
    build(ctx, out)
    assert not (out / "articles/gone").exists()
    assert "Kept" in (out / "articles/keep/index.html").read_text()
    ctx.caches.clear()  # a fresh process reads everything and agrees
    assert build(ctx, out) == []


def test_a_warm_rebuild_after_an_edit_agrees_with_a_full_build(
    ctx: Context, tmp_path: Path
) -> None:
    entries = [
        asyncio.run(sites.add_entry(ctx, "blog", "article", {
            "title": f"Post {n}", "body": "b", "tags": ["t"],
            "published": f"2020-01-{n + 1:02d}T00:00:00Z"}))
        for n in range(25)
    ]
    out = tmp_path / "out"
    build(ctx, out)
    target = entries[0]  # the oldest: in no feed's latest 20
    asyncio.run(sites.update_entry(ctx, "blog", "article", target.id, {"body": "Changed"}))
    written = build(ctx, out)  # this process plans only the pages the edit touches
    assert written == ["articles/post-0/index.html", "sitemap.xml"]  # its lastmod moved
    assert "Changed" in (out / "articles/post-0/index.html").read_text()
    ctx.caches.clear()
    assert build(ctx, out) == []  # a full plan finds nothing else to do


def test_forked_workers_build_the_same_site(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 3)  # every worker gets pages of every kind
    for n in range(12):
        add(ctx, f"Post {n}", ["t", f"t{n % 4}"])
    one, two = tmp_path / "one", tmp_path / "two"
    asyncio.run(build_site(ctx, "blog", one, BASE, workers=1))
    result = asyncio.run(build_site(ctx, "blog", two, BASE, workers=3))
    files = {p.relative_to(one): p.read_bytes() for p in one.rglob("*") if p.is_file()}
    assert files == {p.relative_to(two): p.read_bytes() for p in two.rglob("*") if p.is_file()}
    assert len(result.written) == len(files)


def test_a_theme_error_in_a_worker_leaves_nothing_behind(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 1)
    for n in range(6):
        add(ctx, f"Post {n}", [])
    folder = tmp_path / "late"
    folder.mkdir()
    (folder / "entry.html").write_text("{{ entry.__class__ }}")
    out = tmp_path / "out"
    with pytest.raises(ThemeError, match="Python internals"):
        asyncio.run(build_site(ctx, "blog", out, BASE, theme=folder, workers=3))
    assert [p for p in out.rglob("*") if p.is_file()] == []
