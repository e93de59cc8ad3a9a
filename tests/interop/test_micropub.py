"""Micropub against a provider and a home on loopback: the micropub.rocks server cases (the
number of each case is in the test's name), errors per the spec, and the home-offline path."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.content import sites
from tests.interop.micropub_harness import SITE, Stack, image, stack

JSON = {"Content-Type": "application/json"}


def post_json(client: httpx.Client, doc: Any) -> httpx.Response:
    return client.post("/_homeport/micropub", content=json.dumps(doc), headers=JSON)


def create(mp: Stack, token: str, doc: Any) -> str:
    with mp.client(token) as client:
        answer = post_json(client, doc)
    assert answer.status_code == 201, answer.text
    return str(answer.headers["location"])


def entry_at(mp: Stack, url: str) -> sites.Entry:
    path = url.removeprefix(mp.origin)
    found = [e for e in mp.home.entries() if e.path == path]
    assert len(found) == 1, (path, [e.path for e in mp.home.entries()])
    return found[0]


def source(mp: Stack, token: str, url: str, *props: str) -> Any:
    params: list[tuple[str, str]] = [("q", "source"), ("url", url)]
    params += [("properties[]", p) for p in props]
    with mp.client(token) as client:
        answer = client.get("/_homeport/micropub", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_live(mp: Stack, *paths: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not set(paths) <= mp.sites.live:
        assert time.monotonic() < deadline, (paths, mp.sites.live)
        time.sleep(0.05)


# --- create ----------------------------------------------------------------------------
def test_100_create_form_is_live_when_answered(mp: Stack) -> None:
    token = mp.grants.issue("create")
    with mp.client(token) as client:
        answer = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "Micropub test of creating a basic h-entry"})
    assert answer.status_code == 201, answer.text
    url = answer.headers["location"]
    assert url.startswith(f"{mp.origin}/notes/micropub-test-of-creating-a-")
    assert url.removeprefix(mp.origin) in mp.sites.live  # live when 201 is sent
    entry = entry_at(mp, url)
    assert entry.type == "note"
    assert entry.data["text"] == "Micropub test of creating a basic h-entry"
    assert entry.data["visibility"] == "public" and entry.data["draft"] is False


def test_101_107_categories_form(mp: Stack) -> None:
    token = mp.grants.issue("create")
    with mp.client(token) as client:
        two = client.post("/_homeport/micropub", content=(
            "h=entry&content=Two+categories&category[]=test1&category[]=test2"),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        one = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "One category", "category": "test1"})
    assert two.status_code == one.status_code == 201
    assert entry_at(mp, two.headers["location"]).data["tags"] == ["test1", "test2"]
    assert entry_at(mp, one.headers["location"]).data["tags"] == ["test1"]


def test_104_203_206_photo_by_url(mp: Stack) -> None:
    assert mp.photos is not None
    token = mp.grants.issue("create")
    with mp.client(token) as client:
        form = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "A photo by URL", "photo": mp.photos.url("/sunset.jpg")})
    assert form.status_code == 201, form.text
    photo = entry_at(mp, form.headers["location"])
    assert photo.type == "photo"
    assert photo.data["image"]["width"] == 1600 and photo.data["caption"] == "A photo by URL"
    two = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["Two photos"],
        "photo": [mp.photos.url("/sunset.jpg"), mp.photos.url("/city.jpg")]}})
    note = entry_at(mp, two)
    assert note.type == "note" and [p["width"] for p in note.data["photos"]] == [1600, 800]


def test_205_photo_with_alt(mp: Stack) -> None:
    assert mp.photos is not None
    token = mp.grants.issue("create")
    url = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["Photo with alt"],
        "photo": [{"value": mp.photos.url("/sunset.jpg"), "alt": "Sunset over the bay"}]}})
    entry = entry_at(mp, url)
    assert entry.data["alt"] == "Sunset over the bay"
    assert source(mp, token, url)["properties"]["photo"] == [
        {"value": mp.photos.url("/sunset.jpg"), "alt": "Sunset over the bay"}]


def test_200_201_202_create_json_with_html(mp: Stack) -> None:
    token = mp.grants.issue("create")
    url = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": [{"html": "<p>This post has <b>bold</b> and <i>italic</i> text.</p>"}],
        "category": ["test1", "test2"]}})
    entry = entry_at(mp, url)
    assert "<b>bold</b>" in entry.data["text"] and entry.data["tags"] == ["test1", "test2"]


def test_204_nested_object_is_kept(mp: Stack) -> None:
    token = mp.grants.issue("create")
    checkin = {"type": ["h-card"], "properties": {
        "name": ["Los Gorditos"], "latitude": [45.524330801154],
        "url": ["https://foursquare.com/v/502c4bbde4b06e61e06d1ebf"]}}
    url = create(mp, token, {"type": ["h-entry"], "properties": {
        "published": ["2017-05-31T12:03:36-07:00"], "content": ["Lunch meeting"],
        "checkin": [checkin]}})
    entry = entry_at(mp, url)
    assert entry.data["published"] == "2017-05-31T12:03:36-07:00"
    assert source(mp, token, url)["properties"]["checkin"] == [checkin]


def test_300_301_multipart_photos(mp: Stack) -> None:
    token = mp.grants.issue("create")
    with mp.client(token) as client:
        one = client.post("/_homeport/micropub", data={"h": "entry", "content": "Nice sunset"},
                          files={"photo": ("sunset.jpg", image(), "image/jpeg")})
        two = client.post("/_homeport/micropub", data={"h": "entry", "content": "Two photos"},
                          files=[("photo[]", ("a.png", image("PNG", (640, 480)), "image/png")),
                                 ("photo[]", ("b.gif", image("GIF", (300, 200)), "image/gif"))])
    assert one.status_code == 201, one.text
    assert two.status_code == 201, two.text
    photo = entry_at(mp, one.headers["location"])
    assert photo.type == "photo" and photo.data["image"]["width"] == 1200
    note = entry_at(mp, two.headers["location"])
    assert [p["mimetype"] for p in note.data["photos"]] == ["image/png", "image/gif"]


def test_article_bookmark_reply_like_draft_private_slug(mp: Stack) -> None:
    token = mp.grants.issue("create")
    article = create(mp, token, {"type": ["h-entry"], "properties": {
        "name": ["On Engines"], "content": ["Long text."], "mp-slug": ["engines"],
        "summary": ["Short."]}})
    assert article == f"{mp.origin}/articles/engines/"
    assert entry_at(mp, article).data["title"] == "On Engines"
    bookmark = create(mp, token, {"type": ["h-entry"], "properties": {
        "bookmark-of": ["https://example.com/looms"], "name": ["Looms"]}})
    assert entry_at(mp, bookmark).data["url"] == "https://example.com/looms"
    reply = create(mp, token, {"type": ["h-entry"], "properties": {
        "in-reply-to": ["https://example.com/post"], "content": ["Agreed!"]}})
    assert entry_at(mp, reply).data["reply_to"] == "https://example.com/post"
    like = create(mp, token, {"type": ["h-entry"], "properties": {
        "like-of": ["https://example.com/post"]}})
    assert entry_at(mp, like).data["like_of"] == "https://example.com/post"
    with mp.client(token) as client:
        draft = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "Not yet", "post-status": "draft"})
        private = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "Only me", "visibility": "private"})
    assert draft.status_code == private.status_code == 201
    assert entry_at(mp, draft.headers["location"]).data["draft"] is True
    assert entry_at(mp, private.headers["location"]).data["visibility"] == "private"
    assert draft.headers["location"].removeprefix(mp.origin) not in mp.sites.live


def test_mp_slug_taken_gets_a_suffix(mp: Stack) -> None:
    token = mp.grants.issue("create")
    first = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["one"], "mp-slug": ["same"]}})
    second = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["two"], "mp-slug": ["same"]}})
    assert first == f"{mp.origin}/notes/same/"
    assert second.startswith(f"{mp.origin}/notes/same-") and second != first


# --- update, delete, undelete ----------------------------------------------------------
def test_400_to_404_updates(mp: Stack) -> None:
    token = mp.grants.issue("create update")
    url = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["Original"], "category": ["test1", "test2"]}})
    with mp.client(token) as client:
        replaced = post_json(client, {"action": "update", "url": url,
                                      "replace": {"content": ["Replaced"]}})
        added = post_json(client, {"action": "update", "url": url,
                                   "add": {"category": ["test3"]}})
        removed = post_json(client, {"action": "update", "url": url,
                                     "delete": {"category": ["test1"]}})
    assert [r.status_code for r in (replaced, added, removed)] == [204, 204, 204]
    entry = entry_at(mp, url)
    assert entry.data["text"] == "Replaced" and entry.data["tags"] == ["test2", "test3"]
    with mp.client(token) as client:
        gone = post_json(client, {"action": "update", "url": url, "delete": ["category"]})
    assert gone.status_code == 204
    assert entry_at(mp, url).data.get("tags", []) == []
    assert "category" not in source(mp, token, url)["properties"]


def test_405_invalid_update_is_refused(mp: Stack) -> None:
    token = mp.grants.issue("create update")
    url = create(mp, token, {"type": ["h-entry"], "properties": {"content": ["#405"]}})
    before = len(mp.inbox.items)
    with mp.client(token) as client:
        answer = post_json(client, {"action": "update", "url": url,
                                    "replace": "This is not a valid update request."})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert len(mp.inbox.items) == before


def test_redelivered_items_change_nothing(mp: Stack) -> None:
    token = mp.grants.issue("create update")
    url = create(mp, token, {"type": ["h-entry"], "properties": {"content": ["once"]}})
    with mp.client(token) as client:
        post_json(client, {"action": "update", "url": url, "add": {"content": ["twice?"]}})
    from homeport.interop.micropub import home_handlers

    handlers = home_handlers()
    for item in list(mp.inbox.items):  # the relay delivers again: at least once
        mp.home.portal.call(_in_thread, handlers[item.kind], mp.home.ctx, item)
    entries = [e for e in mp.home.entries() if e.type == "note"]
    assert len(entries) == 1
    assert source(mp, token, url)["properties"]["content"] == ["once", "twice?"]


async def _in_thread(handler: Any, ctx: Any, item: Any) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(handler, ctx, item)


def test_500_to_503_delete_and_undelete(mp: Stack) -> None:
    token = mp.grants.issue("create delete")
    form_url = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["This post will be deleted, and restored."], "category": ["keep"]}})
    path = form_url.removeprefix(mp.origin)
    with mp.client(token) as client:
        deleted = client.post("/_homeport/micropub", data={"action": "delete", "url": form_url})
        assert deleted.status_code == 204, deleted.text
        assert all(e.path != path for e in mp.home.entries())
        again = post_json(client, {"action": "delete", "url": form_url})
        assert again.status_code == 204
        restored = post_json(client, {"action": "undelete", "url": form_url})
        assert restored.status_code == 204, restored.text
    entry = entry_at(mp, form_url)
    assert entry.data["tags"] == ["keep"]
    wait_live(mp, path)


def test_update_of_unknown_post_is_invalid_request(mp: Stack) -> None:
    token = mp.grants.issue("update delete")
    with mp.client(token) as client:
        answer = post_json(client, {"action": "update", "url": f"{mp.origin}/notes/nope/",
                                    "replace": {"content": ["x"]}})
        elsewhere = post_json(client, {"action": "delete", "url": "https://other.example/x/"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert elsewhere.status_code == 403 and elsewhere.json()["error"] == "forbidden"


# --- queries ---------------------------------------------------------------------------
def test_600_601_config_and_syndicate_to(mp: Stack) -> None:
    token = mp.grants.issue("create")
    with mp.client(token) as client:
        config = client.get("/_homeport/micropub", params={"q": "config"})
        targets = client.get("/_homeport/micropub", params={"q": "syndicate-to"})
    assert config.status_code == 200
    assert config.json()["media-endpoint"] == f"{mp.origin}/_homeport/media"
    assert config.json()["syndicate-to"] == []
    assert {t["type"] for t in config.json()["post-types"]} >= {"note", "article", "photo"}
    assert targets.json() == {"syndicate-to": []}


def test_602_603_802_source(mp: Stack) -> None:
    token = mp.grants.issue("create")
    with mp.client() as client:
        answer = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "Token in the body", "category": ["a", "b"],
            "access_token": token})
    assert answer.status_code == 201, answer.text
    url = answer.headers["location"]
    whole = source(mp, token, url)
    assert whole["type"] == ["h-entry"]
    assert whole["properties"]["content"] == ["Token in the body"]
    assert token not in json.dumps(whole) and "access_token" not in whole["properties"]
    some = source(mp, token, url, "content", "category")
    assert some == {"properties": {"content": ["Token in the body"], "category": ["a", "b"]}}


def test_source_of_an_entry_written_elsewhere(mp: Stack) -> None:
    entry = mp.home.call(sites.add_entry, mp.home.ctx, SITE, "article",
                         {"title": "From the GUI", "body": "Text", "tags": ["x"]})
    token = mp.grants.issue("update")
    found = source(mp, token, mp.origin + entry.path)["properties"]
    assert found["name"] == ["From the GUI"] and found["content"] == ["Text"]
    assert found["category"] == ["x"]


def test_category_query(mp: Stack) -> None:
    token = mp.grants.issue("create")
    create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["tagged"], "category": ["indieweb", "Homeport"]}})
    with mp.client(token) as client:
        answer = client.get("/_homeport/micropub", params={"q": "category"})
    assert answer.status_code == 200 and answer.json() == {"categories": ["Homeport",
                                                                          "indieweb"]}


# --- media endpoint --------------------------------------------------------------------
@pytest.mark.parametrize(("name", "fmt", "mime"), [("sunset.jpg", "JPEG", "image/jpeg"),
                                                   ("rocks.png", "PNG", "image/png"),
                                                   ("w3c.gif", "GIF", "image/gif")])
def test_700_701_702_media_endpoint(mp: Stack, name: str, fmt: str, mime: str) -> None:
    token = mp.grants.issue("media create")
    with mp.client(token) as client:
        answer = client.post("/_homeport/media",
                             files={"file": (name, image(fmt, (2400, 1600)), mime)})
    assert answer.status_code == 201, answer.text
    media_url = answer.headers["location"]
    assert media_url.startswith(f"{mp.origin}/media/") and media_url.endswith("/1920.jpg")
    post = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["Uploaded first"], "photo": [media_url]}})
    entry = entry_at(mp, post)
    assert entry.type == "photo"
    assert media_url.split("/")[-2] == entry.data["image"]["hash"]


def test_media_endpoint_refuses_non_images_and_oversized(mp: Stack) -> None:
    from homeport.interop.micropub.endpoint import MAX_UPLOAD

    token = mp.grants.issue("media")
    with mp.client(token) as client:
        text = client.post("/_homeport/media", files={"file": ("x.txt", b"hello", "text/plain")})
        huge = client.post("/_homeport/media",
                           files={"file": ("big.jpg", b"\xff" * (MAX_UPLOAD + 1), "image/jpeg")})
    assert text.status_code == 400 and text.json()["error"] == "invalid_request"
    assert huge.status_code == 413
    assert mp.inbox.items == []


# --- authorization ---------------------------------------------------------------------
def test_800_to_805_auth_errors(mp: Stack) -> None:
    reader = mp.grants.issue("update")
    expired = mp.grants.issue("create", expires=1)
    good = mp.grants.issue("create")
    with mp.client() as client:
        none = client.post("/_homeport/micropub", data={"h": "entry", "content": "x"})
        wrong = client.post("/_homeport/micropub", data={"h": "entry", "content": "x"},
                            headers={"Authorization": "Bearer not-a-token"})
        old = client.post("/_homeport/micropub", data={"h": "entry", "content": "x"},
                          headers={"Authorization": f"Bearer {expired}"})
        scope = client.post("/_homeport/micropub", data={"h": "entry", "content": "x"},
                            headers={"Authorization": f"Bearer {reader}"})
        both = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "x", "access_token": good},
            headers={"Authorization": f"Bearer {good}"})
        query = client.get("/_homeport/micropub", params={"q": "config"})
    assert none.status_code == 401 and none.json()["error"] == "unauthorized"
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    assert old.status_code == 401
    assert scope.status_code == 403 and scope.json() == {
        "error": "insufficient_scope", "scope": "create",
        "error_description": scope.json()["error_description"]}
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    assert query.status_code == 401
    assert mp.inbox.items == []


@pytest.mark.parametrize("body", [
    "h=entry",  # no property
    "h=card&name=x",
    "content=no+h",
    "h=entry&content=x&published=yesterday",
    "h=entry&content=x&post-status=maybe",
    "h=entry&in-reply-to=javascript:alert(1)&content=x",
    "h=entry&location[lat]=1",
    "action=delete",
    "action=explode&url=x",
    "action=update&url=x",
])
def test_malformed_form_requests_queue_nothing(mp: Stack, body: str) -> None:
    token = mp.grants.issue("create update delete")
    with mp.client(token) as client:
        answer = client.post("/_homeport/micropub", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request" and answer.json()["error_description"]
    assert mp.inbox.items == []


@pytest.mark.parametrize("raw", [
    b"{", b"[]", b'{"type": "h-entry", "properties": {}}',
    b'{"type": ["h-entry"], "properties": {"content": "not a list"}}',
    b'{"type": ["h-entry"], "properties": {"content": [[1]]}}',
    b'{"type": ["h-entry"], "properties": {"content": [{"weird": 1}]}}',
    b'{"action": "update", "url": "http://x/notes/a/", "add": []}',
    b'{"type": ["h-entry"], "properties": {"content": [1e400]}}',
    b"[" * 100 + b"]" * 100,
])
def test_malformed_json_requests_queue_nothing(mp: Stack, raw: bytes) -> None:
    token = mp.grants.issue("create update delete")
    with mp.client(token) as client:
        answer = client.post("/_homeport/micropub", content=raw, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert mp.inbox.items == []


def test_oversized_and_unknown_bodies(mp: Stack) -> None:
    from homeport.interop.micropub.endpoint import MAX_BODY

    token = mp.grants.issue("create")
    with mp.client(token) as client:
        big = client.post("/_homeport/micropub", content=b"h=entry&content=" + b"x" * MAX_BODY,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        xml = client.post("/_homeport/micropub", content=b"<x/>",
                          headers={"Content-Type": "text/xml"})
        unknown_host = client.get("/_homeport/micropub", params={"q": "config"},
                                  headers={"Host": "nobody.localhost"})
    assert big.status_code == 413
    assert xml.status_code == 400
    assert unknown_host.status_code == 404
    assert mp.inbox.items == []


# --- the home offline ------------------------------------------------------------------
def test_offline_requests_queue_and_drain_when_the_home_starts(tmp_path: Path,
                                                               store_url: str) -> None:
    with stack(tmp_path / "home", store_url, wait=9.0, online=False) as mp:
        token = mp.grants.issue("create update delete media")
        started = time.monotonic()
        with mp.client(token) as client:
            upload = client.post("/_homeport/media",
                                 files={"file": ("a.jpg", image(), "image/jpeg")})
            first = client.post("/_homeport/micropub", data={
                "h": "entry", "content": "Written while the home sleeps"})
            photo = post_json(client, {"type": ["h-entry"], "properties": {
                "content": ["With the upload"], "photo": [upload.headers["location"]]}})
            changed = post_json(client, {"action": "update", "url": first.headers["location"],
                                         "add": {"category": ["offline"]}})
            gone = post_json(client, {"type": ["h-entry"], "properties": {
                "content": ["Deleted before the home saw it"]}})
            deleted = post_json(client, {"action": "delete",
                                         "url": gone.headers["location"]})
        took = time.monotonic() - started
        assert upload.status_code == 201
        assert [r.status_code for r in (first, photo, changed, gone, deleted)] == [
            202, 202, 202, 202, 202]
        assert took < 3.0, took  # at once: no home is connected to wait for
        assert mp.home.entries() == []
        mp.home.start()
        mp.home.wait_drained()
        by_path = {e.path: e for e in mp.home.entries()}
        first_path = first.headers["location"].removeprefix(mp.origin)
        photo_path = photo.headers["location"].removeprefix(mp.origin)
        assert set(by_path) == {first_path, photo_path}  # the URLs the 202s promised
        assert by_path[first_path].data["tags"] == ["offline"]
        assert by_path[photo_path].type == "photo"
        wait_live(mp, first_path, photo_path)


def test_slow_publish_answers_202_then_goes_live(tmp_path: Path, store_url: str) -> None:
    with stack(tmp_path / "home", store_url, wait=1.0) as mp:
        mp.home.publish_delay = 2.0
        token = mp.grants.issue("create")
        with mp.client(token) as client:
            answer = client.post("/_homeport/micropub", data={"h": "entry", "content": "slow"})
        assert answer.status_code == 202
        wait_live(mp, answer.headers["location"].removeprefix(mp.origin))


def test_a_post_the_store_refuses_is_an_error_result_not_a_retry(mp: Stack) -> None:
    """A body the provider would not have queued (a note over the schema's 5,000 characters):
    the handler answers invalid_request for good instead of raising, so the relay does not
    retry it forever, and nothing is written."""
    from homeport import jsonio
    from homeport.interop import ports
    from homeport.interop.micropub import home_handlers

    doc = {"action": "create", "type": ["h-entry"], "properties": {"content": ["x" * 6000]},
           "commands": {}, "entry_type": "note", "slug": "too-long", "short_id": "abc123"}
    item = ports.InboxItem("forged-1", "micropub.post", {}, jsonio.dumps(doc), 0)
    result = mp.home.portal.call(_in_thread, home_handlers()["micropub.post"], mp.home.ctx, item)
    assert result["error"] == "invalid_request" and result["status"] == 400
    assert [e for e in mp.home.entries() if e.type == "note"] == []


def test_likes_replies_and_reposts_render_their_relation(mp: Stack, tmp_path: Path) -> None:
    """What a reader (mf2py) sees on the built pages of posts made by Micropub."""
    import mf2py

    from homeport.render.build import build_site

    token = mp.grants.issue("create")
    made = {prop: create(mp, token, {"type": ["h-entry"], "properties": {
        prop: ["https://example.com/post"], "content": [f"A {prop}"]}})
        for prop in ("like-of", "repost-of", "in-reply-to")}
    out = tmp_path / "out"
    mp.home.call(build_site, mp.home.ctx, SITE, out, mp.origin + "/")
    for prop, url in made.items():
        path = url.removeprefix(mp.origin)
        doc = mf2py.parse(doc=(out / path.strip("/") / "index.html").read_text(), url=url)
        entry = next(i for i in doc["items"] if "h-entry" in i["type"])
        assert entry["properties"][prop] == ["https://example.com/post"], prop


def test_source_without_a_token_shows_public_posts_only(mp: Stack) -> None:
    token = mp.grants.issue("create")
    public = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": ["Open"], "post-status": ["published"], "visibility": ["public"]}})
    with mp.client(token) as client:
        draft = client.post("/_homeport/micropub", data={
            "h": "entry", "content": "Not yet", "post-status": "draft"}).headers["location"]
    queued = len(mp.inbox.items)
    with mp.client() as client:
        shown = client.get("/_homeport/micropub", params={"q": "source", "url": public})
        hidden = client.get("/_homeport/micropub", params={"q": "source", "url": draft})
        again = client.get("/_homeport/micropub", params={"q": "source", "url": public})
    assert shown.status_code == 200, shown.text
    assert shown.json()["properties"]["content"] == ["Open"]
    assert "post-status" not in shown.json()["properties"]
    assert "visibility" not in shown.json()["properties"]
    assert hidden.status_code == 401 and hidden.json()["error"] == "unauthorized"
    assert again.json() == shown.json()
    assert len(mp.inbox.items) <= queued + 2  # one query item per post and minute
    assert source(mp, token, draft)["properties"]["post-status"] == ["draft"]


def test_an_edit_made_elsewhere_survives_a_micropub_update(mp: Stack) -> None:
    """The text changed in the GUI (``update_entry``) after Micropub made the post: an update
    that adds a category keeps that text, and q=source shows it."""
    token = mp.grants.issue("create update")
    url = create(mp, token, {"type": ["h-entry"], "properties": {
        "content": [{"html": "<p>First</p>"}], "category": ["a"]}})
    entry = entry_at(mp, url)
    mp.home.call(sites.update_entry, mp.home.ctx, SITE, "note", entry.id,
                 {"text": "Edited in the GUI"})
    with mp.client(token) as client:
        answer = post_json(client, {"action": "update", "url": url, "add": {"category": ["b"]}})
    assert answer.status_code == 204
    after = entry_at(mp, url)
    assert after.data["text"] == "Edited in the GUI" and after.data["tags"] == ["a", "b"]
    props = source(mp, token, url)["properties"]
    assert props["content"] == ["Edited in the GUI"] and props["category"] == ["a", "b"]
