"""Micropub's shared rules (``interop.micropub.mf2``) and how the provider reads a refusal."""

from __future__ import annotations

import pytest

from homeport.interop.micropub import mf2
from homeport.interop.micropub.endpoint import _refusal


@pytest.mark.parametrize(("props", "kind"), [
    ({"content": ["hi"]}, "note"),
    ({"name": ["Title"], "content": ["x"]}, "article"),
    ({"photo": ["https://a.example/p.jpg"]}, "photo"),
    ({"photo": ["https://a.example/1.jpg", "https://a.example/2.jpg"]}, "note"),
    ({"bookmark-of": ["https://a.example/"], "name": ["A"]}, "bookmark"),
    ({"in-reply-to": ["https://a.example/"], "name": ["Re"], "content": ["x"]}, "note"),
    ({"like-of": ["https://a.example/"]}, "note"),
])
def test_entry_type(props: dict[str, list[object]], kind: str) -> None:
    assert mf2.entry_type(props) == kind


def test_slugs_are_decided_without_the_home() -> None:
    assert mf2.slug_for({"content": ["Hello, World! Again"]}, {}, "abc123") == (
        "hello-world-again-abc123", False)
    assert mf2.slug_for({"content": ["x"]}, {"mp-slug": ["My Post"]}, "abc123") == (
        "my-post", True)
    assert mf2.slug_for({"content": ["<p>!!</p>"]}, {"mp-slug": ["tags"]}, "abc123") == (
        "note-abc123", False)  # a reserved mp-slug is not used
    assert mf2.fallback_slug("same", "abc123") == "same-abc123"


def test_update_order_is_replace_add_delete() -> None:
    action = mf2.Action("update", url="u", replace={"content": ["new"]},
                        add={"category": ["c", "a"]}, delete={"category": ["a"]})
    assert mf2.apply_update({"content": ["old"], "category": ["a", "b"]}, action) == {
        "content": ["new"], "category": ["b", "c"]}
    gone = mf2.Action("update", url="u", delete=["category"])
    assert mf2.apply_update({"content": ["x"], "category": ["a"]}, gone) == {"content": ["x"]}


def test_fields_for_a_like_and_a_private_draft() -> None:
    fields = mf2.fields_for("note", {"like-of": ["https://a.example/p"],
                                     "post-status": ["draft"], "visibility": ["unlisted"],
                                     "category": ["a/b", "a/b", {"type": ["h-card"]}]})
    assert fields["text"] == "Liked https://a.example/p"
    assert fields["like_of"] == "https://a.example/p"
    assert fields["draft"] is True and fields["visibility"] == "private"
    assert fields["tags"] == ["a-b"]


def test_media_urls_name_the_hash() -> None:
    digest = "a" * 64
    url = mf2.media_url("https://s.example", digest, 3000)
    assert url == f"https://s.example/media/{digest}/1920.jpg"
    assert mf2.media_hash(url) == digest
    assert mf2.media_hash("https://elsewhere.example/p.jpg") is None


def test_a_refusal_from_the_relay_or_the_handler_is_invalid_request() -> None:
    relay = _refusal({"error": {"status": 400, "errno": 107, "message": "bad slug"}})
    assert (relay.status, relay.error, relay.description) == (400, "invalid_request", "bad slug")
    server = _refusal({"error": {"status": 503, "message": "down"}})
    assert server.status == 400
    handler = _refusal({"error": "invalid_request", "error_description": "no post",
                        "status": 400})
    assert (handler.status, handler.error, handler.description) == (
        400, "invalid_request", "no post")
