"""The sites API: schemas enforced by the store, slugs unique and stable, nothing half-written."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeport.content import sites
from homeport.content.errors import ContentError, SlugTaken
from homeport.content.types import ENTRY_TYPES
from homeport.core.errors import InvalidParameters
from homeport.services.context import Context


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_create_site_makes_one_collection_per_type_with_its_schema(ctx: Context) -> None:
    for kind in ENTRY_TYPES.values():
        collection = run(ctx.store.get("collection", "/buckets/blog", kind.collection))
        assert collection["schema"]["title"] == kind.name
    assert run(sites.get_site(ctx, "blog"))["theme"] == "journal"
    assert run(sites.list_sites(ctx)) == ["blog"]


def test_a_site_name_is_created_once(ctx: Context) -> None:
    with pytest.raises(ContentError, match="already exists"):
        run(sites.create_site(ctx, "blog", "Again"))


def test_the_system_bucket_is_not_a_site_name(ctx: Context) -> None:
    """``homeport`` holds the home's grants (tokens, delegations): a site there would mix them
    with its entries."""
    with pytest.raises(ContentError, match="private bucket"):
        run(sites.create_site(ctx, "homeport", "Mine"))
    assert run(sites.list_sites(ctx)) == ["blog"]


def test_unknown_theme_is_refused(ctx: Context) -> None:
    with pytest.raises(ContentError, match="unknown theme"):
        run(sites.create_site(ctx, "other", "Other", theme="nope"))


def test_entry_defaults_public_published_now_with_a_slug_from_the_title(ctx: Context) -> None:
    entry = run(sites.add_entry(ctx, "blog", "article", {"title": "Hello World", "body": "x"}))
    assert entry.slug == "hello-world"
    assert entry.path == "/articles/hello-world/"
    assert entry.data["visibility"] == "public"
    assert entry.data["draft"] is False
    assert entry.data["published"].endswith("Z")


def test_public_entries_are_readable_by_everyone_over_the_api(ctx: Context) -> None:
    public = run(sites.add_entry(ctx, "blog", "note", {"text": "hi"}))
    private = run(sites.add_entry(ctx, "blog", "note", {"text": "ho", "visibility": "private"}))
    parent = "/buckets/blog/collections/notes"
    assert "system.Everyone" in run(ctx.store.get_permissions(f"{parent}/records/{public.id}"))[
        "read"]
    assert "read" not in run(ctx.store.get_permissions(f"{parent}/records/{private.id}"))


def test_the_store_enforces_the_schema(ctx: Context) -> None:
    with pytest.raises(InvalidParameters, match="body"):
        run(sites.add_entry(ctx, "blog", "article", {"title": "No body"}))
    with pytest.raises(InvalidParameters):
        run(sites.add_entry(ctx, "blog", "bookmark", {"url": "javascript:alert(1)"}))
    assert run(sites.list_entries(ctx, "blog")) == []


def test_same_title_gets_a_numbered_slug(ctx: Context) -> None:
    first = run(sites.add_entry(ctx, "blog", "article", {"title": "Same", "body": "a"}))
    second = run(sites.add_entry(ctx, "blog", "note", {"text": "Same"}))
    assert (first.slug, second.slug) == ("same", "same-2")


def test_an_explicit_duplicate_slug_is_refused_and_nothing_is_written(ctx: Context) -> None:
    run(sites.add_entry(ctx, "blog", "article", {"title": "A", "body": "a", "slug": "taken"}))
    with pytest.raises(SlugTaken, match="already used"):
        run(sites.add_entry(ctx, "blog", "page", {"title": "B", "body": "b", "slug": "taken"}))
    assert [e.type for e in run(sites.list_entries(ctx, "blog"))] == ["article"]


def test_a_title_change_keeps_the_slug(ctx: Context) -> None:
    entry = run(sites.add_entry(ctx, "blog", "article", {"title": "Old", "body": "a"}))
    updated = run(sites.update_entry(ctx, "blog", "article", entry.id, {"title": "New"}))
    assert updated.slug == "old"


def test_a_new_slug_keeps_the_old_one_for_redirects(ctx: Context) -> None:
    entry = run(sites.add_entry(ctx, "blog", "article", {"title": "Old", "body": "a"}))
    updated = run(sites.update_entry(ctx, "blog", "article", entry.id, {"slug": "new"}))
    assert updated.data["old_slugs"] == ["old"]
    other = run(sites.add_entry(ctx, "blog", "article", {"title": "Old", "body": "b"}))
    assert other.slug == "old-2"  # the old slug still belongs to the moved entry


def test_deleting_an_entry_frees_its_slugs(ctx: Context) -> None:
    entry = run(sites.add_entry(ctx, "blog", "note", {"text": "gone"}))
    run(sites.delete_entry(ctx, "blog", "note", entry.id))
    again = run(sites.add_entry(ctx, "blog", "note", {"text": "gone"}))
    assert again.slug == "gone"


def test_unknown_type_and_site_are_clear_errors(ctx: Context) -> None:
    with pytest.raises(ContentError, match="unknown entry type"):
        run(sites.add_entry(ctx, "blog", "video", {}))
    with pytest.raises(ContentError, match="no site named"):
        run(sites.add_entry(ctx, "nope", "note", {"text": "x"}))
