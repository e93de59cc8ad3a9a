"""The Providers page against a real provider on loopback: enroll from the GUI, publish with
live progress over server-sent events, see the site at the provider, refuse a bad code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

BASE = "example.test"


def events(client: Any) -> list[dict[str, Any]]:
    """Read the progress stream until the publish ends (the stream closes itself)."""
    seen = []
    with client.stream("GET", "/admin/providers/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    return seen


def test_enroll_publish_and_see_the_site(
    client: Any, gui: Any, gui_invite: Any, provider: tuple[str, Path]
) -> None:
    url, data = provider
    gui.wizard(client, "Ada's corner")
    dashboard = client.get("/admin/").text
    assert "only previewed on this computer" in dashboard and "add a provider" in dashboard
    page = client.get("/admin/providers")
    assert page.status_code == 200 and "No provider yet" in page.text
    bad = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": "not-a-code", "name": "ada"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert "No provider yet" in bad.text

    added = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": gui_invite(data), "name": "ada"})
    assert added.status_code == 200, added.text
    assert f"https://ada.{BASE}/" in added.text

    started = client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(added.text)})
    assert started.status_code == 200
    progress = events(client)
    assert progress and progress[-1]["state"] == "done", progress
    row = progress[-1]["providers"][url]
    assert row["done"] and row["seq"] >= 1 and row["bytes"] > 0

    site = httpx.get(url + "/", headers={"Host": f"ada.{BASE}"}, timeout=10)
    assert site.status_code == 200
    assert "Ada&#39;s corner" in site.text or "Ada's corner" in site.text
    listed = client.get("/admin/providers")
    assert str(row["seq"]) in listed.text
    live = client.get("/admin/").text
    assert f'href="https://ada.{BASE}/"' in live and "up to date (published" in live
    notes = client.get("/admin/notes")
    client.post("/admin/notes", data={"csrf": gui.csrf_of(notes.text), "text": "Later"})
    assert "your latest changes are not there yet" in client.get("/admin/").text


def test_publish_without_a_csrf_token_is_refused(client: Any, gui: Any) -> None:
    gui.wizard(client)
    refused = client.post("/admin/providers/publish", data={})
    assert refused.status_code == 403


def test_a_new_home_restores_from_the_provider(
    client: Any, gui: Any, gui_invite: Any, provider: tuple[str, Path], tmp_path: Path,
    settings: Any,
) -> None:

    from starlette.testclient import TestClient

    from homeport.home import create_home_app
    from homeport.services import identity
    from homeport.services.context import Context
    from homeport.settings import Settings
    from homeport.store.blobs_fs import FsBlobStore
    from homeport.store.memory import MemoryRecordStore

    url, data = provider
    words = gui.wizard(client, "Ada's corner")
    page = client.get("/admin/providers")
    client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": gui_invite(data), "name": "ada"})
    client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(page.text)})
    assert events(client)[-1]["state"] == "done"

    fresh = Settings(data_dir=tmp_path / "new-home", storage_url="memory://",
                     argon2_memory_kib=64, argon2_time_cost=1, admin_password="first-run")
    fresh.data_dir.mkdir()
    ctx = Context(settings=fresh, store=MemoryRecordStore(), blobs=FsBlobStore(fresh.blobs_dir))
    app = create_home_app(fresh, ctx)
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50001)) as other:
        form = other.get("/admin/setup/restore")
        assert form.status_code == 200
        wrong = other.post("/admin/setup/restore", data={
            "csrf": gui.csrf_of(form.text), "url": url, "password": "a new password",
            "phrase": " ".join(reversed(words))})
        assert wrong.status_code == 400 and 'role="alert"' in wrong.text
        assert not identity.exists(fresh.data_dir)
        done = other.post("/admin/setup/restore", data={
            "csrf": gui.csrf_of(form.text), "url": url, "password": "a new password",
            "phrase": " ".join(words)})
        assert done.status_code == 200, done.text
        assert "Your home is back" in done.text
        assert not re.search(r"\b1 \w+s\b", done.text)  # "1 saved version", not "1 snapshots"
        # the new device's key reached the provider with the restore, not at the next publish
        (row,) = other.get("/admin/providers/status").json()
        assert row["health"] == "ok" and row["health_text"] == "reachable", row
        assert "Ada&#39;s corner" in done.text or "Ada's corner" in done.text
        assert "lives here now" in done.text and "standby" not in done.text
    assert identity.load(fresh.data_dir).did == identity.load(settings.data_dir).did

    # the restore moved the home (a handoff): the first copy's next publish is refused, and
    # from then on it is a standby: its GUI says where the home lives and refuses changes,
    # and so does /v1, with 409 in Kinto's error shape
    page = client.get("/admin/providers")
    client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(page.text)})
    last = events(client)[-1]
    assert last["state"] == "failed" and "standby" in json.dumps(last), last
    dashboard = client.get("/admin/")
    assert "standby" in dashboard.text and "moved from" in dashboard.text
    notes = client.get("/admin/notes")
    refused = client.post("/admin/notes", data={"csrf": gui.csrf_of(notes.text), "text": "No"})
    assert refused.status_code == 409 and "standby" in refused.text
    api = client.put("/v1/buckets/elsewhere", json={}, auth=("admin", gui.password))
    assert api.status_code == 409, api.text
    assert api.json()["errno"] == 999 and "standby" in api.json()["message"]
    assert client.get("/v1/buckets", auth=("admin", gui.password)).status_code == 200

    # and back, from the standby's own GUI with the phrase (a wrong one changes nothing)
    form = client.get("/admin/move-here")
    assert form.status_code == 200 and url in form.text
    wrong = client.post("/admin/move-here", data={
        "csrf": gui.csrf_of(form.text), "url": url, "phrase": " ".join(reversed(words))})
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    assert "standby" in client.get("/admin/").text
    back = client.post("/admin/move-here", data={
        "csrf": gui.csrf_of(form.text), "url": url, "phrase": " ".join(words)})
    assert back.status_code == 200 and "lives here again" in back.text, back.text
    assert "standby" not in back.text
    notes = client.get("/admin/notes")
    posted = client.post("/admin/notes", data={"csrf": gui.csrf_of(notes.text), "text": "Home"})
    assert posted.status_code == 200
    page = client.get("/admin/providers")
    client.post("/admin/providers/publish", data={"csrf": gui.csrf_of(page.text)})
    assert events(client)[-1]["state"] == "done"


def saved_providers(settings: Any) -> list[dict[str, Any]]:
    return list(json.loads((settings.data_dir / "providers.json").read_text())["providers"])


def test_rules_health_and_storage_per_provider(
    client: Any, gui: Any, gui_invite: Any, provider: tuple[str, Path], settings: Any
) -> None:
    url, data = provider
    gui.wizard(client)
    page = client.get("/admin/providers")
    added = client.post("/admin/providers/add", data={
        "csrf": gui.csrf_of(page.text), "url": url, "code": gui_invite(data), "name": "bea"})
    assert added.status_code == 200 and "What each provider publishes" in added.text
    csrf = gui.csrf_of(added.text)

    saved = client.post("/admin/providers/rules", data={
        "csrf": csrf, "url": url, "exclude_tags": "family, #travel",
        "exclude_types": ["note", "photo"]})

    assert saved.status_code == 200, saved.text
    (entry,) = saved_providers(settings)
    assert entry["rules"] == {"exclude_tags": ["family", "travel"],
                              "exclude_types": ["note", "photo"]}
    assert 'value="family, travel"' in saved.text
    assert 'value="note" checked' in saved.text and 'value="article" checked' not in saved.text

    unknown = client.post("/admin/providers/rules", data={
        "csrf": csrf, "url": url, "exclude_types": ["poem"]})
    assert unknown.status_code == 400 and 'role="alert"' in unknown.text
    elsewhere = client.post("/admin/providers/rules", data={
        "csrf": csrf, "url": "http://127.0.0.1:9/", "exclude_tags": "x"})
    assert elsewhere.status_code == 400
    (entry,) = saved_providers(settings)
    assert entry["rules"]["exclude_types"] == ["note", "photo"]  # refusals changed nothing

    cleared = client.post("/admin/providers/rules", data={"csrf": csrf, "url": url})
    assert cleared.status_code == 200
    (entry,) = saved_providers(settings)
    assert "rules" not in entry

    (status,) = client.get("/admin/providers/status").json()
    assert status["url"] == url and status["health"] == "ok"
    assert status["remote"]["usage"] >= 0 and status["remote"]["quota"] > 0
