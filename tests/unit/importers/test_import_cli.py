"""``homeport import-from wordpress|mastodon`` on both engines: real-format fixtures come in
with their media, dates, slugs and old URLs (redirects on the built site); a second run writes
nothing; a dry run writes nothing; hostile input (entity expansion, zip bombs, paths leaving
the archive) is one clear line or a ``failed``/missing-media item, never a traceback."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from homeport.cli.main import app

pytestmark = pytest.mark.usefixtures("no_homeport_env")
runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Path:
    if request.param == "postgresql":
        monkeypatch.setenv("HOMEPORT_STORAGE_URL", request.getfixturevalue("fresh_postgres_url"))
    return tmp_path / "home"


def picture(kind: str, size: tuple[int, int], colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, kind)
    return out.getvalue()


def items(home: Path, *args: str, code: int = 0) -> list[dict[str, str]]:
    result = runner.invoke(app, ["import-from", *args, "--json", "--data", str(home)])
    assert result.exit_code == code, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def refused(home: Path, *args: str) -> str:
    result = runner.invoke(app, ["import-from", *args, "--data", str(home)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), result.stderr
    return lines[0]


def entries(home: Path, site: str = "site") -> dict[str, dict[str, object]]:
    """Every entry of the site by slug, read back through the CLI's store."""
    import asyncio

    from homeport.cli.build import _with_context
    from homeport.content import sites
    from homeport.settings import load_settings

    async def work(context: object) -> dict[str, dict[str, object]]:
        found = await sites.list_entries(context, site)  # type: ignore[arg-type]
        return {e.slug: {"type": e.type, **e.data} for e in found}

    return asyncio.run(_with_context(load_settings(home), work))  # type: ignore[arg-type]


def wordpress_source(tmp_path: Path) -> Path:
    folder = tmp_path / "wp"
    (folder / "wp-content/uploads/2023/04").mkdir(parents=True)
    shutil.copy(FIXTURES / "wordpress/export.xml", folder / "harbour.WordPress.2024-01-15.xml")
    (folder / "wp-content/uploads/2023/04/harbour.jpg").write_bytes(
        picture("JPEG", (640, 480), "navy"))
    # lost.png is listed in the export but not in the uploads: "media missing"
    return folder


def test_wordpress_export_imports_with_media_redirects_and_reruns_as_a_no_op(
        home: Path, tmp_path: Path) -> None:
    source = wordpress_source(tmp_path)
    dry = items(home, "wordpress", str(source), "--dry-run", "--site", "site")
    assert [i["action"] for i in dry].count("created") == 4
    assert not (home / "blobs").exists() or not any((home / "blobs").rglob("*"))

    first = items(home, "wordpress", str(source))
    by_id = {i["source_id"]: i for i in first}
    assert by_id["post/10"] == {**by_id["post/10"], "action": "created", "kind": "article",
                                "target": "/articles/low-tide-at-dawn/"}
    assert "media missing: 2023/04/lost.png" in by_id["post/10"]["message"]
    assert "shortcodes removed: gallery" in by_id["post/10"]["message"]
    assert "3 comments as responses (3 written)" in by_id["post/10"]["message"]
    assert "1 spam or trashed comments left out" in by_id["post/10"]["message"]
    assert by_id["post/2"]["target"] == "/about/" or by_id["post/2"]["kind"] == "page"
    assert {by_id["post/30"]["action"], by_id["post/31"]["action"]} == {"skipped"}
    assert by_id["post/20"]["action"] == by_id["post/21"]["action"] == "created"

    found = entries(home)
    post = found["low-tide-at-dawn"]
    assert post["title"] == "Low tide at dawn & a <em>quiet</em> harbour"
    assert post["published"] == "2023-04-08T06:45:00Z"
    assert post["summary"] == "A morning on the mud."
    assert post["tags"] == ["Boats", "Tides"]
    assert post["old_paths"] == ["/2023/04/low-tide-at-dawn/"]
    [photo] = post["images"]  # type: ignore[misc]
    assert (photo["width"], photo["alt"]) == (640, "Boats resting on the mud at low tide")
    body = str(post["body"])
    assert "wp:paragraph" not in body and "[caption" not in body and "[gallery" not in body
    assert f"../../media/{photo['hash']}/" in body and "<figcaption>" in body
    assert "harbour.example/wp-content" not in body
    draft = next(e for e in found.values() if e["title"] == "Caf%C3%A9 crawl (unfinished)")
    assert draft["draft"] is True and "old_paths" not in draft
    assert found["only-for-me"]["visibility"] == "private"
    assert found["about"]["type"] == "page"

    again = items(home, "wordpress", str(source))
    assert {i["action"] for i in again} == {"unchanged", "skipped"}
    assert entries(home) == found

    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "--out", str(out), "--data", str(home)])
    assert result.exit_code == 0, result.output
    page = (out / "articles/low-tide-at-dawn/index.html").read_text()
    assert "The water went out further" in page
    assert "Lovely light!" in page and "https://bo.example" in page  # an approved comment
    assert 'href="https://tides.example/2023/04/low-water/"' in page  # a pingback
    assert "Tide blog » Low water notes" in page
    assert "Held for moderation" not in page and "Buy now" not in page
    assert "articles/low-tide-at-dawn" in (out / "2023/04/low-tide-at-dawn/index.html").read_text()
    assert any((out / "media" / str(photo["hash"])).iterdir())
    assert not (out / "articles/only-for-me").exists()


def mastodon_archive(tmp_path: Path, name: str = "archive-20240115-abc.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in ("outbox.json", "actor.json"):
            archive.write(FIXTURES / "mastodon" / member, member)
        archive.writestr("media_attachments/files/111/000/000/000/000/001/original/sea.png",
                         picture("PNG", (64, 48), "teal"))
        archive.writestr("avatar.png", picture("PNG", (8, 8), "red"))
    return path


def test_mastodon_archive_imports_toots_with_media_and_skips_boosts(
        home: Path, tmp_path: Path) -> None:
    archive = mastodon_archive(tmp_path)
    first = items(home, "mastodon", str(archive))
    by_id = {i["source_id"].rsplit("/", 1)[-1]: i for i in first}
    assert by_id["activity"]["action"] == "skipped"  # the boost
    assert by_id["activity"]["message"] == "a boost of someone's post"
    created = [i for i in first if i["action"] == "created"]
    assert len(created) == 4
    assert "media missing" in by_id["111000000000000003"]["message"]
    assert "media missing" in by_id["111000000000000005"]["message"]  # ../ never read

    notes = {str(e["published"]): e for e in entries(home).values()}
    swim = notes["2023-09-01T08:00:00Z"]
    assert swim["text"] == ("Morning swim, water at 14 °C #wildswimming\n\n"
                            "Second line\nwith a break & an ampersand")
    assert swim["tags"] == ["wildswimming"] and swim["visibility"] == "public"
    [sea] = swim["photos"]  # type: ignore[misc]
    assert (sea["width"], sea["alt"]) == (64, "Grey sea under a grey sky")
    assert swim["old_paths"] == ["/@ann/111000000000000001/"]
    reply = notes["2023-09-03T09:30:00Z"]
    assert reply["visibility"] == "private" and reply["content_warning"] == "spoilers"
    assert reply["reply_to"] == "https://other.example/users/bo/statuses/98"
    assert reply["sensitive"] is True and reply["text"] == "@bo the ending is a twist"
    assert notes["2023-09-04T10:00:00Z"]["text"] == "Tea or coffee?"

    again = items(home, "mastodon", str(archive))
    assert {i["action"] for i in again} == {"unchanged", "skipped"}

    out = tmp_path / "out"
    assert runner.invoke(app, ["build", "--out", str(out), "--data", str(home)]).exit_code == 0
    assert any((out / "media" / str(sea["hash"])).iterdir())
    assert "/notes/" in (out / "@ann/111000000000000001/index.html").read_text()


def test_hostile_and_broken_sources_are_refused_in_one_line(home: Path, tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.xml"
    laughs.write_text('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
                      '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rss><channel>'
                      '<title>&b;</title></channel></rss>')
    assert "not a readable WordPress export" in refused(home, "wordpress", str(laughs))
    truncated = tmp_path / "cut.xml"
    truncated.write_bytes((FIXTURES / "wordpress/export.xml").read_bytes()[:3000])
    assert "not a readable WordPress export" in refused(home, "wordpress", str(truncated))
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss version='2.0'><channel><title>x</title></channel></rss>")
    assert "not a WordPress export" in refused(home, "wordpress", str(feed))

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "mastodon/outbox.json", "outbox.json")
        archive.writestr("media_attachments/zeros.bin", b"\0" * (64 * 1024 * 1024))
    assert "zip bomb" in refused(home, "mastodon", str(bomb))
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as archive:
        archive.writestr("../outbox.json", (FIXTURES / "mastodon/outbox.json").read_bytes())
    assert "no outbox.json" in refused(home, "mastodon", str(sneaky))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable zip or tar archive" in refused(home, "mastodon", str(junk))
    assert "no importer 'myspace'" in refused(home, "myspace", str(junk))
    assert not (tmp_path / "home" / "sites").exists()


def test_export_to_jsonfeed_and_markdown_takes_everything_and_is_repeatable(
        home: Path, tmp_path: Path) -> None:
    items(home, "wordpress", str(wordpress_source(tmp_path)))
    post = entries(home)["low-tide-at-dawn"]
    [photo] = post["images"]  # type: ignore[misc]
    medium = f"media/{photo['hash']}/harbour.jpg"

    feed_dir = tmp_path / "feed"
    result = runner.invoke(app, ["export-to", "jsonfeed", str(feed_dir), "--data", str(home)])
    assert result.exit_code == 0, result.output
    assert "Exported 4 entries" in result.stdout
    feed = json.loads((feed_dir / "feed.json").read_text())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    by_slug = {i["_homeport"]["slug"]: i for i in feed["items"]}
    first = by_slug["low-tide-at-dawn"]
    assert first["date_published"] == "2023-04-08T06:45:00Z"
    assert first["tags"] == ["Boats", "Tides"] and first["image"] == medium
    assert f'src="/{medium}"' in first["content_html"]
    assert by_slug["only-for-me"]["_homeport"]["visibility"] == "private"
    assert (feed_dir / medium).read_bytes()[:2] == b"\xff\xd8"

    md_dir = tmp_path / "md"
    assert runner.invoke(app, ["export-to", "markdown", str(md_dir), "--data", str(home)]
                         ).exit_code == 0
    text = (md_dir / "content/articles/low-tide-at-dawn.md").read_text()
    assert text.startswith('---\ntitle: "Low tide at dawn & a <em>quiet</em> harbour"\n'
                           'date: "2023-04-08T06:45:00Z"\nslug: "low-tide-at-dawn"\n')
    assert 'aliases: ["/2023/04/low-tide-at-dawn/"]' in text
    assert f"(/{medium})" in text or f'"/{medium}"' in text
    assert (md_dir / "static" / medium).is_file()
    assert (md_dir / "content/pages/about.md").is_file()

    before = {p: p.stat().st_mtime_ns for p in md_dir.rglob("*") if p.is_file()}
    assert runner.invoke(app, ["export-to", "markdown", str(md_dir), "--data", str(home)]
                         ).exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in md_dir.rglob("*") if p.is_file()} == before
    assert "no exporter 'pdf'" in runner.invoke(
        app, ["export-to", "pdf", str(md_dir), "--data", str(home)]).stderr


def test_a_json_feed_export_imports_back_into_another_site_as_it_left(
        home: Path, tmp_path: Path) -> None:
    items(home, "wordpress", str(wordpress_source(tmp_path)))
    items(home, "mastodon", str(mastodon_archive(tmp_path)))
    feed_dir = tmp_path / "feed"
    assert runner.invoke(app, ["export-to", "jsonfeed", str(feed_dir), "--data", str(home)]
                         ).exit_code == 0
    before = entries(home)

    first = items(home, "jsonfeed", str(feed_dir), "--site", "other")
    assert {i["action"] for i in first} == {"created"} and len(first) == len(before)
    after = entries(home, "other")
    assert set(after) == set(before)
    for slug, entry in before.items():
        again = after[slug]
        for key in ("type", "published", "visibility", "draft", "tags", "title", "text"):
            assert (again.get(key) or None) == (entry.get(key) or None), (slug, key)
    assert after["low-tide-at-dawn"]["images"][0]["hash"] == (  # type: ignore[index]
        before["low-tide-at-dawn"]["images"][0]["hash"])  # type: ignore[index]
    again = items(home, "jsonfeed", str(feed_dir), "--site", "other")
    assert {i["action"] for i in again} == {"unchanged"}

    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "https://jsonfeed.org/version/1.1", "items": [')
    assert "not readable JSON" in refused(home, "jsonfeed", str(broken), "--site", "other")
    broken.write_text('{"title": "not a feed"}')
    assert "not a JSON Feed" in refused(home, "jsonfeed", str(broken), "--site", "other")


def test_a_markdown_folder_of_jekyll_hugo_and_pelican_files_imports(
        home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "md"
    shutil.copytree(FIXTURES / "markdown", folder)
    (folder / "assets").mkdir()
    (folder / "assets/pie.png").write_bytes(picture("PNG", (300, 300), "orange"))
    first = {i["source_id"]: i for i in items(home, "markdown", str(folder))}
    assert first["_posts/2021-03-14-pi-day.md"]["target"] == "/articles/pi-day/"
    assert "media missing: /assets/missing.png" in first["_posts/2021-03-14-pi-day.md"]["message"]
    found = entries(home)
    pie = found["pi-day"]
    assert pie["title"] == "Pi day: baking by the numbers" and pie["published"] == "2021-03-14"
    assert pie["tags"] == ["pie", "circles", "baking", "maths"]
    assert pie["summary"] == "Three point one four."
    assert pie["old_paths"] == ["/2021/03/14/pi-day.html/"]
    [photo] = pie["images"]  # type: ignore[misc]
    assert f"(../../media/{photo['hash']}/" in str(pie["body"])
    hugo = found["hugo-draft"]
    assert hugo["draft"] is True and hugo["published"] == "2022-05-01T10:00:00+02:00"
    assert hugo["tags"] == ["hugo", "toml"] and hugo["old_paths"] == ["/old/hugo-draft/"]
    about = found["about"]
    assert about["type"] == "page" and about["body"] == "Pelican-style header."
    assert {i["action"] for i in items(home, "markdown", str(folder))} == {"unchanged"}
    assert "holds no Markdown files" in refused(home, "markdown", str(tmp_path / "md/assets"))


def test_a_ghost_export_imports_with_its_images_tags_and_member_posts(
        home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ghost"
    (folder / "content/images/2024/01").mkdir(parents=True)
    shutil.copy(FIXTURES / "ghost/harbour.ghost.2024-01-15-10-12-00.json", folder)
    (folder / "content/images/2024/01/chart.png").write_bytes(picture("PNG", (320, 200), "blue"))
    (folder / "content/images/2024/01/cover.png").write_bytes(picture("PNG", (400, 300), "grey"))
    first = {i["source_id"]: i for i in items(home, "ghost", str(folder))}
    assert len(first) == 4 and {i["action"] for i in first.values()} == {"created"}
    assert "media missing" in first["post/65a4f1c2e1b2a30001a1b002"]["message"]
    assert "only mobiledoc" in first["post/65a4f1c2e1b2a30001a1b003"]["message"]
    found = entries(home)
    tides = found["tide-tables-explained"]
    assert tides["tags"] == ["Tides", "Charts"] and tides["summary"] == "How to read one."
    assert tides["published"] == "2024-01-10T08:30:00Z" and len(tides["images"]) == 2  # type: ignore[arg-type]
    assert "__GHOST_URL__" not in str(tides["body"]) and "../../media/" in str(tides["body"])
    assert found["for-paying-readers"]["visibility"] == "members"
    assert found["scheduled-piece"]["draft"] is True
    assert found["about"]["type"] == "page"
    assert {i["action"] for i in items(home, "ghost", str(folder))} == {"unchanged"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"db": [{"data": {}}]}')
    assert "not a Ghost export" in refused(home, "ghost", str(bad))


def test_a_wxr_export_imports_back_with_the_wordpress_importer(
        home: Path, tmp_path: Path) -> None:
    items(home, "wordpress", str(wordpress_source(tmp_path)))
    items(home, "mastodon", str(mastodon_archive(tmp_path)))
    before = entries(home)
    out = tmp_path / "wxr"
    assert runner.invoke(app, ["export-to", "wxr", str(out), "--data", str(home)]
                         ).exit_code == 0
    again = items(home, "wordpress", str(out), "--site", "back")
    assert {i["action"] for i in again} == {"created"} and len(again) == len(before)
    after = entries(home, "back")
    assert set(after) == set(before)
    post = after["low-tide-at-dawn"]
    assert post["published"] == "2023-04-08T06:45:00Z" and post["tags"] == ["Boats", "Tides"]
    assert post["images"][0]["hash"] == before["low-tide-at-dawn"]["images"][0]["hash"]  # type: ignore[index]
    assert after["only-for-me"]["visibility"] == "private"
    assert {i["action"] for i in items(home, "wordpress", str(out), "--site", "back")} == {
        "unchanged"}


def twitter_archive(tmp_path: Path) -> Path:
    """An X/Twitter archive zip as the site gives it: ``data/*.js`` plus ``tweets_media``
    named ``<tweet id>-<file name>`` (one photo listed but absent, one video's mp4)."""
    path = tmp_path / "twitter-2023-01-15-abcdef.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in ("account.js", "tweets.js"):
            archive.write(FIXTURES / "twitter/data" / member, f"data/{member}")
        archive.writestr("data/tweets_media/1612345678901234567-FmAbCdEfGhIjKlM.jpg",
                         picture("JPEG", (640, 480), "navy"))
        archive.writestr("data/tweets_media/1612600000000000003-GuLlS.mp4",
                         b"\0\0\0\x18ftypmp42" + b"\0" * 64)
        archive.writestr("Your archive.html", "<html>Your archive</html>")
    return path


def test_a_twitter_archive_imports_tweets_with_photos_and_skips_retweets(
        home: Path, tmp_path: Path) -> None:
    archive = twitter_archive(tmp_path)
    assert {i["action"] for i in items(home, "twitter", str(archive), "--dry-run")} == {
        "created", "skipped"}
    assert not (home / "sites").exists() or not entries(home)
    first = {i["source_id"]: i for i in items(home, "twitter", str(archive))}
    assert first["tweet/1612500000000000002"]["action"] == "skipped"
    assert first["tweet/1612500000000000002"]["message"] == "a retweet of someone's post"
    tide = first["tweet/1612345678901234567"]
    assert tide["action"] == "created" and tide["kind"] == "note"
    assert "media missing: 1612345678901234567-FmZzLostFileXx.jpg" in tide["message"]

    found = entries(home)
    gulls = found["tweet-1612600000000000003-media-1"]
    assert gulls["type"] == "file" and gulls["file"]["mimetype"] == "video/mp4"  # type: ignore[index]
    notes = {str(e["published"]): e for e in found.values() if e["type"] == "note"}
    low = notes["2023-01-09T08:42:00Z"]
    assert low["text"] == ("Low water at 08:40 & #tides say <1 m. Table: "
                           "https://tides.example/table?port=harbour&day=9")
    assert low["tags"] == ["tides"] and low["old_paths"] == [
        "/ann_harbour/status/1612345678901234567/"]
    [photo] = low["photos"]  # type: ignore[misc]
    assert (photo["width"], photo["height"]) == (640, 480)
    reply = notes["2023-01-09T11:40:05Z"]
    assert reply["reply_to"] == "https://twitter.com/bo_boats/status/1612399999999999999"
    assert reply["text"] == "@bo_boats Yes, the ferry ran late again"
    assert notes["2023-01-10T07:00:00Z"]["text"] == (
        "Gulls at the slipway\n\n[GuLlS.mp4](../../files/tweet-1612600000000000003-media-1/)")
    assert len(notes) == 3

    assert {i["action"] for i in items(home, "twitter", str(archive))} == {
        "unchanged", "skipped"}
    out = tmp_path / "out"
    assert runner.invoke(app, ["build", "--out", str(out), "--data", str(home)]).exit_code == 0
    assert "/notes/" in (out / "ann_harbour/status/1612345678901234567/index.html").read_text()

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as bad:
        bad.writestr("data/tweets.js", "window.YTD.tweets.part0 = [ { \"tweet\" : {")
    assert "not readable JSON" in refused(home, "twitter", str(broken))
    with zipfile.ZipFile(broken, "w") as bad:
        bad.writestr("data/tweets.js", "alert('hi'); []")
    assert "no window.YTD assignment" in refused(home, "twitter", str(broken))
    assert "no data/tweets.js" in refused(home, "twitter", str(mastodon_archive(tmp_path)))


def test_an_activitystreams_outbox_export_reads_back_with_the_mastodon_importer(
        home: Path, tmp_path: Path) -> None:
    items(home, "wordpress", str(wordpress_source(tmp_path)))
    items(home, "mastodon", str(mastodon_archive(tmp_path)))
    before = entries(home)
    out = tmp_path / "outbox"
    result = runner.invoke(app, ["export-to", "outbox", str(out), "--data", str(home)])
    assert result.exit_code == 0, result.output
    assert "drafts, pages and files are not posts" in result.stderr
    outbox = json.loads((out / "outbox.json").read_text())
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == len(outbox["orderedItems"]) == 6  # 2 posts + 4 toots
    creates = {a["object"]["url"].rsplit("/", 2)[-2]: a for a in outbox["orderedItems"]}
    post = creates["low-tide-at-dawn"]
    assert post["type"] == "Create" and post["object"]["type"] == "Article"
    assert post["object"]["name"] == "Low tide at dawn & a <em>quiet</em> harbour"
    assert post["to"] == ["https://www.w3.org/ns/activitystreams#Public"]
    [medium] = post["object"]["attachment"]
    assert medium["url"].startswith("/media_attachments/media/") and medium["width"] == 640
    assert (out / medium["url"].lstrip("/")).read_bytes()[:2] == b"\xff\xd8"
    assert f'src="{medium["url"]}"' in post["object"]["content"]
    assert creates["only-for-me"]["to"] == ["https://example.invalid/activitypub/followers"]
    assert json.loads((out / "actor.json").read_text())["type"] == "Person"

    again = items(home, "mastodon", str(out), "--site", "back")
    assert {i["action"] for i in again} == {"created"} and len(again) == 6
    after = entries(home, "back")
    back = after["low-tide-at-dawn"]
    assert back["type"] == "article" and back["title"] == before["low-tide-at-dawn"]["title"]
    assert back["images"][0]["hash"] == medium["url"].split("/")[3]  # type: ignore[index]
    assert back["published"] == "2023-04-08T06:45:00Z"
    assert after["only-for-me"]["visibility"] == "private"
    toots = {e["published"]: e for e in after.values() if e["type"] == "note"}
    assert toots["2023-09-01T08:00:00Z"]["photos"][0]["hash"] == (  # type: ignore[index]
        {e["published"]: e for e in before.values()}["2023-09-01T08:00:00Z"]
        ["photos"][0]["hash"])  # type: ignore[index]
    assert {i["action"] for i in items(home, "mastodon", str(out), "--site", "back")} == {
        "unchanged"}


def test_a_toot_that_fails_leaves_the_others_of_its_batch_written(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Toots are written a batch a transaction; the first toot's photo is over the home's
    attachment limit, so its write fails inside the batch: the batch is rolled back and
    written again toot by toot, and the other toots are there."""
    import os

    path = tmp_path / "archive.zip"
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    big = io.BytesIO()
    noise.save(big, "PNG")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "mastodon/outbox.json", "outbox.json")
        archive.writestr("media_attachments/files/111/000/000/000/000/001/original/sea.png",
                         big.getvalue())
    monkeypatch.setenv("HOMEPORT_MAX_ATTACHMENT_BYTES", "50000")
    done = items(home, "mastodon", str(path), code=1)
    by_id = {i["source_id"].rsplit("/", 1)[-1]: i for i in done}
    assert by_id["111000000000000001"]["action"] == "failed"
    assert "bigger than the limit" in by_id["111000000000000001"]["message"]
    assert [i["action"] for i in done].count("created") == 3
    assert len(entries(home)) == 3


def test_a_toots_video_and_audio_become_file_entries_linked_from_the_note(
        home: Path, tmp_path: Path) -> None:
    public = "https://www.w3.org/ns/activitystreams#Public"
    files = "media_attachments/files/111/000/000/000/000/009/original/"
    toot = {
        "id": "https://social.example/users/ann/statuses/111000000000000009/activity",
        "type": "Create", "actor": "https://social.example/users/ann",
        "published": "2023-09-09T09:00:00Z", "to": [public],
        "cc": ["https://social.example/users/ann/followers"],
        "object": {
            "id": "https://social.example/users/ann/statuses/111000000000000009",
            "type": "Note", "summary": None, "inReplyTo": None,
            "published": "2023-09-09T09:00:00Z",
            "url": "https://social.example/@ann/111000000000000009",
            "attributedTo": "https://social.example/users/ann", "to": [public],
            "cc": ["https://social.example/users/ann/followers"], "sensitive": False,
            "content": "<p>Harbour sounds</p>",
            "attachment": [
                {"type": "Document", "mediaType": "image/png", "url": "/" + files + "a.png",
                 "name": "The slipway", "blurhash": "U9Fi#R~q00of00ofWBof00WB?bof",
                 "width": 32, "height": 24},
                {"type": "Document", "mediaType": "video/mp4", "url": "/" + files + "b.mp4",
                 "name": "Waves on the slipway", "blurhash": "U9Fi#R~q00of00ofWBof00WB?bof",
                 "width": 1280, "height": 720},
                {"type": "Document", "mediaType": "audio/mpeg", "url": "/" + files + "c.mp3",
                 "name": None, "blurhash": None}],
            "tag": [], "replies": {"type": "Collection"}}}
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("outbox.json", json.dumps({"@context": "https://www.w3.org/ns/activitystreams",
                                                "id": "outbox.json", "type": "OrderedCollection",
                                                "totalItems": 1, "orderedItems": [toot]}))
        out.writestr(files + "a.png", picture("PNG", (32, 24), "teal"))
        out.writestr(files + "b.mp4", b"\0\0\0\x18ftypmp42" + b"\1" * 256)
        out.writestr(files + "c.mp3", b"ID3\x04\0\0\0\0\0\0" + b"\2" * 256)
    first = items(home, "mastodon", str(archive))
    assert [(i["kind"], i["action"]) for i in first] == [
        ("file", "created"), ("file", "created"), ("note", "created")]
    found = entries(home)
    video = found["111000000000000009-media-1"]
    assert video["type"] == "file" and video["title"] == "Waves on the slipway"
    assert video["file"]["mimetype"] == "video/mp4"  # type: ignore[index]
    assert found["111000000000000009-media-2"]["title"] == "c.mp3"
    [note] = [e for e in found.values() if e["type"] == "note"]
    assert note["text"] == ("Harbour sounds\n\n"
                            "[Waves on the slipway](../../files/111000000000000009-media-1/)\n\n"
                            "[c.mp3](../../files/111000000000000009-media-2/)")
    assert len(note["photos"]) == 1  # type: ignore[arg-type]
    assert {i["action"] for i in items(home, "mastodon", str(archive))} == {"unchanged"}
    out = tmp_path / "out"
    assert runner.invoke(app, ["build", "--out", str(out), "--data", str(home)]).exit_code == 0
    assert "b.mp4" in (out / "files/111000000000000009-media-1/index.html").read_text()


def test_remote_media_of_a_json_feed_are_fetched_when_asked_within_the_fetch_rule(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--option remote_media=yes`` fetches an item's media named by URL through
    ``web/outbound.py``: a loopback address only with ``fetch_allow_private``, a 404 named in
    the report; without the option they are named, not fetched."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()
    (served / "gull.png").write_bytes(picture("PNG", (80, 60), "white"))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        feed = tmp_path / "feed.json"
        feed.write_text(json.dumps({
            "version": "https://jsonfeed.org/version/1.1", "title": "Gulls",
            "items": [{"id": "https://gulls.example/1", "content_text": "A gull",
                       "date_published": "2024-02-01T10:00:00Z",
                       "attachments": [
                           {"url": f"{base}/gull.png", "mime_type": "image/png",
                            "title": "A gull on a post"},
                           {"url": f"{base}/gone.png", "mime_type": "image/png"}]}]}))
        [named] = items(home, "jsonfeed", str(feed), "--dry-run")
        assert "--option remote_media=yes fetches it" in named["message"]
        [refused_item] = items(home, "jsonfeed", str(feed), "--dry-run",
                               "--option", "remote_media=yes")
        assert "remote media not copied" in refused_item["message"]
        assert "127.0.0.1" in refused_item["message"]  # loopback: not without the setting
        monkeypatch.setenv("HOMEPORT_FETCH_ALLOW_PRIVATE", "true")
        [done] = items(home, "jsonfeed", str(feed), "--option", "remote_media=yes")
        assert done["action"] == "created"
        assert f"remote media not copied: {base}/gone.png answered 404" in done["message"]
        [note] = entries(home).values()
        [gull] = note["photos"]  # type: ignore[misc]
        assert (gull["width"], gull["alt"]) == (80, "A gull on a post")
        again = items(home, "jsonfeed", str(feed), "--option", "remote_media=yes")
        assert [i["action"] for i in again] == ["unchanged"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_wordpress_attachments_missing_locally_are_fetched_from_the_old_site_when_asked(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "old-site"
    (served / "wp-content/uploads/2024/05").mkdir(parents=True)
    (served / "wp-content/uploads/2024/05/buoy.jpg").write_bytes(
        picture("JPEG", (120, 90), "orange"))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        export = tmp_path / "export.xml"
        export.write_text(
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:wp="http://wordpress.org/export/1.2/"><channel><title>Buoys</title>'
            "<wp:wxr_version>1.2</wp:wxr_version>"
            "<item><title><![CDATA[buoy]]></title><wp:post_id>7</wp:post_id>"
            "<wp:post_parent>3</wp:post_parent><wp:status><![CDATA[inherit]]></wp:status>"
            "<wp:post_type><![CDATA[attachment]]></wp:post_type>"
            f"<wp:attachment_url><![CDATA[{base}/wp-content/uploads/2024/05/buoy.jpg]]>"
            "</wp:attachment_url><wp:postmeta><wp:meta_key><![CDATA[_wp_attached_file]]>"
            "</wp:meta_key><wp:meta_value><![CDATA[2024/05/buoy.jpg]]></wp:meta_value>"
            "</wp:postmeta></item>"
            "<item><title><![CDATA[The red buoy]]></title><wp:post_id>3</wp:post_id>"
            "<content:encoded><![CDATA[<p>It moved.</p>]]></content:encoded>"
            "<wp:post_date_gmt><![CDATA[2024-05-02 08:00:00]]></wp:post_date_gmt>"
            "<wp:post_name><![CDATA[the-red-buoy]]></wp:post_name>"
            "<wp:status><![CDATA[publish]]></wp:status>"
            "<wp:post_type><![CDATA[post]]></wp:post_type></item></channel></rss>")
        [dry] = items(home, "wordpress", str(export), "--dry-run")
        assert "media missing: 2024/05/buoy.jpg" in dry["message"]
        monkeypatch.setenv("HOMEPORT_FETCH_ALLOW_PRIVATE", "true")
        [done] = items(home, "wordpress", str(export), "--option", "remote_media=yes")
        assert done["action"] == "created" and "missing" not in done["message"]
        [buoy] = entries(home)["the-red-buoy"]["images"]  # type: ignore[misc]
        assert (buoy["width"], buoy["height"]) == (120, 90)
        assert [i["action"] for i in items(home, "wordpress", str(export), "--option",
                                            "remote_media=yes")] == ["unchanged"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
