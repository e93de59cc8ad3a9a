"""The Import page and the "Take everything with you" button, in-process on SQLite and
PostgreSQL: a WordPress export uploaded as a zip comes in (dry run first: nothing written),
its per-item report is shown and downloadable, a second upload changes nothing, bad forms and
hostile archives are refused with a clear message; the takeaway zip holds a bundle that
verifies and every exporter's view of the site."""

from __future__ import annotations

import csv
import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from homeport.home import create_home_app
from homeport.services import repository
from homeport.settings import Settings

FIXTURES = Path(__file__).parents[1] / "unit" / "importers" / "fixtures"
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
          '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rss><channel>'
          '<title>&b;</title></channel></rss>')
POLL_LIMIT = 600
"""Times the page is asked whether an import finished (0.05 s apart: 30 s at most)."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, gui: Any) -> Iterator[tuple[Any,
                                                                                     Settings]]:
    from starlette.testclient import TestClient

    url = (f"sqlite:///{tmp_path / 'home.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    settings = Settings(data_dir=tmp_path / "home", storage_url=url, argon2_memory_kib=64,
                        argon2_time_cost=1, auto_publish=False)
    settings.data_dir.mkdir(parents=True)
    with TestClient(create_home_app(settings), base_url="http://127.0.0.1",
                    client=("127.0.0.1", 50000)) as client:
        gui.wizard(client)
        yield client, settings


def wordpress_zip(tmp_path: Path) -> bytes:
    """The CLI tests' WordPress export with its uploads folder, zipped as a person would."""
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), "navy").save(picture, "JPEG")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.write(FIXTURES / "wordpress/export.xml", "harbour.WordPress.2024-01-15.xml")
        archive.writestr("wp-content/uploads/2023/04/harbour.jpg", picture.getvalue())
    return out.getvalue()


def post(client: Any, target: str, files: dict[str, Any] | None = None,
         **fields: str) -> Any:
    page = client.get("/admin/import")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post(target, data={"csrf": csrf, **fields}, files=files)


def finished(client: Any) -> str:
    for _ in range(POLL_LIMIT):
        page = client.get("/admin/import")
        if 'data-state="running"' not in page.text:
            return str(page.text)
        time.sleep(0.05)
    raise AssertionError("the import did not finish in 30 s")


def entries(client: Any) -> dict[str, Any]:
    found = client.get("/v1/buckets/my-corner/collections/articles/records",
                       auth=("admin", "correct horse battery"))
    return {r["slug"]: r for r in found.json().get("data", [])} if found.status_code == 200 \
        else {}


def test_a_wordpress_zip_imports_through_the_page_with_a_report_then_leaves_with_everything(
        home: tuple[Any, Settings], tmp_path: Path) -> None:
    client, settings = home
    page = client.get("/admin/import")
    assert page.status_code == 200
    for kind in ("wordpress", "mastodon", "jsonfeed", "markdown", "ghost"):
        assert f'<option value="{kind}"' in page.text
    upload = {"file": ("harbour.zip", wordpress_zip(tmp_path), "application/zip")}

    # bad forms: a clear 400 and no job started
    assert "Choose what kind" in post(client, "/admin/import", upload, kind="").text
    refused = post(client, "/admin/import", kind="wordpress", url="file:///etc/passwd")
    assert refused.status_code == 400 and "must start with https://" in refused.text
    assert post(client, "/admin/import", kind="wordpress").status_code == 400
    bad = post(client, "/admin/import", upload, kind="wordpress", options="uploads")
    assert bad.status_code == 400 and "is not name=value" in bad.text
    assert 'id="import-job"' not in client.get("/admin/import").text

    # a dry run reports what would happen and writes nothing
    started = post(client, "/admin/import", upload, kind="wordpress", dry_run="on")
    assert started.status_code == 200 and started.url.path == "/admin/import"
    shown = finished(client)
    assert "Dry run of WordPress export (WXR): harbour.zip" in shown
    assert "nothing was written" in shown and '<span data-action="created">4 created' in shown
    assert entries(client) == {}
    assert not any((settings.data_dir / "imports").iterdir())  # the upload is gone

    # options reach the importer: WordPress's uploads=DIR, here an empty folder
    empty = tmp_path / "no-uploads"
    empty.mkdir()
    post(client, "/admin/import", upload, kind="wordpress", dry_run="on",
         options=f"uploads={empty}")
    assert "media missing: 2023/04/harbour.jpg" in finished(client)

    # the real run: entries, media, and the per-item report (failures and skips first)
    post(client, "/admin/import", upload, kind="wordpress")
    shown = finished(client)
    assert "Done." in shown and 'id="import-report"' in shown
    rows = shown.split('<tbody>', 1)[1]
    assert rows.index('data-action="skipped"') < rows.index('data-action="created"')
    assert "media missing: 2023/04/lost.png" in shown
    found = entries(client)
    assert found["low-tide-at-dawn"]["title"] == "Low tide at dawn & a <em>quiet</em> harbour"
    assert found["low-tide-at-dawn"]["images"][0]["width"] == 640
    report = client.get("/admin/import/report")
    assert report.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(report.text)))
    by_id = {line["source_id"]: line for line in lines}
    assert by_id["post/10"]["target"] == "/articles/low-tide-at-dawn/"
    assert by_id["post/10"]["action"] == "created"
    events = client.get("/admin/import/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert '"state": "done"' in events.text

    # the same upload again changes nothing
    post(client, "/admin/import", upload, kind="wordpress")
    shown = finished(client)
    assert "created" not in shown.split('id="import-counts"', 1)[1].split("</p>", 1)[0]
    assert entries(client) == found

    # a hostile archive (entity expansion, a member leaving the folder): stopped with a clear
    # message, nothing written, nothing left behind
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("export.xml", LAUGHS)
        archive.writestr("../../escape.txt", b"out")
    post(client, "/admin/import",
         {"file": ("../../evil.zip", hostile.getvalue(), "application/zip")}, kind="wordpress")
    shown = finished(client)
    assert "Stopped:" in shown and "not a readable WordPress export" in shown
    assert "Traceback" not in shown and entries(client) == found
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "evil.zip").exists()
    assert not any((settings.data_dir / "imports").iterdir())

    # an address on a hosted home: refused (the provider's network is not the tenant's)
    object.__setattr__(settings, "hosted", True)  # the running app shares this object
    try:
        hosted = post(client, "/admin/import", kind="kinto", url="http://127.0.0.1:9/v1")
        assert hosted.status_code == 400 and "imports from files only" in hosted.text
        hosted = post(client, "/admin/import", upload, kind="wordpress", options="uploads=/")
        assert hosted.status_code == 400 and "takes no importer options" in hosted.text
    finally:
        object.__setattr__(settings, "hosted", False)
    # an upload a stopped home left behind is cleared by the next import
    (settings.data_dir / "imports" / "left-over").mkdir()
    post(client, "/admin/import", upload, kind="wordpress", dry_run="on")
    finished(client)
    assert not any((settings.data_dir / "imports").iterdir())

    # take everything: one zip, a bundle that verifies, and every exporter's files
    taken = post(client, "/admin/takeaway")
    assert taken.status_code == 200
    assert taken.headers["content-type"] == "application/zip"
    assert "attachment" in taken.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(taken.content)) as archive:
        names = archive.namelist()
        assert "home.homeport" in names and "README.txt" in names
        folder = tmp_path / "taken"
        archive.extractall(folder)
    for kind in ("jsonfeed", "markdown", "wxr"):
        assert any(n.startswith(f"sites/my-corner/{kind}/") for n in names), kind
    feed = next(p for p in (folder / "sites/my-corner/jsonfeed").rglob("*.json"))
    assert "Low tide at dawn" in feed.read_text("utf-8")
    scratch = tmp_path / "verify"
    scratch.mkdir()
    checked = repository.verify_file(None, folder / "home.homeport", scratch)
    assert checked.objects > 0
    assert not [p for p in settings.data_dir.iterdir() if p.name.startswith(".takeaway-")]
    shutil.rmtree(folder)
