"""Entries through the GUI in process: autosave, publish, delete with undo, bad input."""

from __future__ import annotations

import json
from typing import Any

Client = Any


def _token(gui: Any, client: Client) -> str:
    return str(gui.csrf_of(client.get("/admin/").text))


def _save(client: Client, token: str, **fields: Any) -> Any:
    headers = {"X-CSRF-Token": token, "Accept": "application/json",
               "Content-Type": "application/json"}
    return client.post("/admin/api/articles", content=json.dumps(fields), headers=headers)


def test_autosave_creates_a_draft_whose_slug_follows_the_title(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    first = _save(client, token, title="Hel", body="text").json()
    assert first["draft"] is True and first["slug"] == "hel"
    again = _save(client, token, id=first["id"], title="Hello world", body="more").json()
    assert again["id"] == first["id"] and again["slug"] == "hello-world"


def test_article_without_title_is_refused_with_a_message(gui: Any, client: Client) -> None:
    gui.wizard(client)
    response = _save(client, _token(gui, client), title="  ", body="kept in the browser")
    assert response.status_code == 400
    assert "title" in response.json()["message"]
    assert "No articles yet" in client.get("/admin/write").text


def test_editor_json_is_parsed_strictly(gui: Any, client: Client) -> None:
    """The editor's JSON goes through the API's one strict parser: NaN is not JSON."""
    gui.wizard(client)
    headers = {"X-CSRF-Token": _token(gui, client), "Accept": "application/json",
               "Content-Type": "application/json"}
    body = '{"title": "Numbers", "body": "x", "images": [{"hash": NaN}]}'
    response = client.post("/admin/api/articles", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["message"] == "The editor sent something that is not JSON."
    assert "No articles yet" in client.get("/admin/write").text


def test_an_article_sent_in_pieces_past_the_limit_is_refused(gui: Any, client: Client) -> None:
    """The 2 MB limit held only for a declared length: a chunked body of any size was read
    and saved (``web/bodies.py`` now reads every body)."""
    gui.wizard(client)
    headers = {"X-CSRF-Token": _token(gui, client), "Accept": "application/json",
               "Content-Type": "application/json"}

    def body() -> Any:  # no Content-Length: sent chunked
        yield b'{"title": "Long", "body": "'
        for _ in range(3):
            yield b"x" * 1024 * 1024
        yield b'"}'

    response = client.post("/admin/api/articles", content=body(), headers=headers)
    assert response.status_code == 400
    assert "too long to save" in response.json()["message"]
    assert "No articles yet" in client.get("/admin/write").text


def test_delete_then_undo_brings_the_entry_back(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    saved = _save(client, token, title="Keep me", body="precious").json()
    page = client.post(f"/admin/entries/article/{saved['id']}/delete", data={"csrf": token})
    assert "Keep me" not in page.text.split("<main")[1].split("Deleted")[0]
    assert "Deleted “Keep me”" in page.text
    restored = client.post("/admin/undo", data={"csrf": token})
    assert "Restored “Keep me”" in restored.text
    assert "Keep me" in client.get("/admin/write").text


def test_publish_builds_the_preview(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    saved = _save(client, token, title="Out there", body="Hello *world*").json()
    client.post(f"/admin/entries/article/{saved['id']}/publish", data={"csrf": token})
    page = client.get("/preview/my-corner/articles/out-there/")
    assert page.status_code == 200 and "<em>world</em>" in page.text


def test_script_in_markdown_never_reaches_the_preview(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    body = json.dumps({"body": "<script>alert(1)</script><img src=x onerror=alert(2)>"})
    html = client.post("/admin/api/preview", content=body, headers=headers).json()["html"]
    assert "<script" not in html and "onerror" not in html


def test_gui_pages_send_a_strict_content_security_policy(gui: Any, client: Client) -> None:
    gui.wizard(client)
    policy = client.get("/admin/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_other_devices_are_refused_while_lan_access_is_off(make_client: Any) -> None:
    phone = make_client("192.168.1.20")
    response = phone.get("/admin/login")
    assert response.status_code == 403
    assert "lan_access" in response.text
    assert phone.get("/preview/x/").status_code == 403


def test_upload_over_the_limit_is_refused_before_it_is_read(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    headers = {"X-CSRF-Token": token, "Content-Length": str(3 * 1024**3),
               "Content-Type": "multipart/form-data; boundary=x"}

    def body() -> Any:
        yield b"--x\r\n"  # the server must answer without reading the promised 3 GB

    response = client.post("/admin/api/photos", content=body(), headers=headers)
    assert response.status_code == 413
    assert "bigger than the limit" in response.text


def test_a_restart_does_not_make_the_preview_look_stale(gui: Any, client: Client) -> None:
    gui.wizard(client)
    token = _token(gui, client)
    saved = _save(client, token, title="Built", body="once").json()
    client.post(f"/admin/entries/article/{saved['id']}/publish", data={"csrf": token})
    client.app.state.ctx.caches.pop("gui_last_build")  # what a restart forgets
    page = client.get("/admin/").text
    assert "Last updated before Homeport last started" in page
    assert "older than your latest changes" not in page
