"""Enroll, push, publish, serve: the provider's main path."""

from __future__ import annotations

import io
from pathlib import Path

import mf2py
import pytest

from homeport.core.objects import ObjectType
from homeport.provider import sites
from homeport.repo.bundle import export_bundle, frame, verify_bundle
from homeport.repo.codec import encode
from homeport.services.repository import repo_keys
from homeport.sync import drivers
from homeport.sync.client import Credentials, ProviderClient, ProviderError
from tests.provider.conftest import API, BASE, SITE_V1, World


def test_enroll_push_publish_and_serve_by_host(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()

    answer = home.publish(world.client, commit)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"seq": 1, "head": commit.id.hex(), "site": "blog"}
    page = world.get(f"alice.{BASE}", "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    cards = mf2py.parse(doc=page.text)["items"]
    assert cards[0]["properties"]["name"] == ["Alice v1"]
    post = world.get(f"alice.{BASE}", "/posts/hello/")
    entry = mf2py.parse(doc=post.text)["items"][0]
    assert entry["type"] == ["h-entry"] and entry["properties"]["name"] == ["Hello"]
    photo = world.get(f"alice.{BASE}", "/photo.jpg")
    assert photo.content == SITE_V1["photo.jpg"]
    assert photo.headers["content-type"] == "image/jpeg"


def test_tenant_reports_head_usage_and_kept_sites(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.publish(world.client, commit)

    doc = home.request(world.client, "GET", "/tenant").json()

    assert doc["name"] == "alice" and doc["did"] == home.did
    assert doc["head"] == commit.id.hex() and doc["seq"] == 1 and doc["live"] == 1
    assert doc["kept"] == [1]
    assert 0 < doc["usage"] <= doc["quota"]
    assert doc["last_publish"] is not None


def test_private_objects_are_stored_but_never_served(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.publish(world.client, commit)

    site_dir = world.settings.data_dir / "tenants" / "alice" / "live"
    served = b"".join(p.read_bytes() for p in site_dir.rglob("*") if p.is_file())
    assert b"my diary" not in served
    assert world.get(f"alice.{BASE}", "/buckets/private").status_code == 404


def test_republish_changes_only_what_changed_and_hard_links_the_rest(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    home.publish(world.client, home.snapshot())
    home.write_site({**SITE_V1, "index.html": "<!doctype html><h1>v2</h1>"})
    commit = home.snapshot()

    lacking = home.push(world.client, commit)
    answer = home.request(world.client, "POST", "/publish", home.publish_doc(commit))

    assert answer.status_code == 200, answer.text
    assert len(lacking) < 10  # the new file, its chunk, a few tree nodes, the commit
    assert "v2" in world.get(f"alice.{BASE}", "/").text
    sites = world.settings.data_dir / "tenants" / "alice" / "sites"
    photos = sorted(sites.glob("*/photo.jpg"))
    assert len(photos) == 2 and photos[0].stat().st_ino == photos[1].stat().st_ino


def test_first_publish_may_start_after_commit_one(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site({"index.html": "one"})
    home.snapshot()
    home.write_site({"index.html": "two"})
    second = home.snapshot()

    answer = home.publish(world.client, second, history=False)

    assert answer.status_code == 200, answer.text
    assert world.get(f"alice.{BASE}", "/").text == "two"
    third_site = {"index.html": "three"}
    home.write_site(third_site)
    third = home.snapshot()
    assert home.publish(world.client, third).status_code == 200
    assert world.get(f"alice.{BASE}", "/").text == "three"


def test_publishing_the_head_again_is_harmless(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.publish(world.client, commit)

    again = home.request(world.client, "POST", "/publish", home.publish_doc(commit))

    assert again.status_code == 200, again.text
    assert world.get(f"alice.{BASE}", "/").status_code == 200


def test_rollback_serves_a_kept_commit_and_the_next_publish_follows_the_head(
    world: World,
) -> None:
    home = world.enrolled("alice")
    for text in ("one", "two"):
        home.write_site({"index.html": text})
        assert home.publish(world.client, home.snapshot()).status_code == 200

    answer = home.request(world.client, "POST", "/rollback", {"seq": 1})

    assert answer.status_code == 200 and answer.json() == {"live": 1}
    assert world.get(f"alice.{BASE}", "/").text == "one"
    doc = home.request(world.client, "GET", "/tenant").json()
    assert doc["seq"] == 2 and doc["live"] == 1
    home.write_site({"index.html": "three"})
    assert home.publish(world.client, home.snapshot()).status_code == 200
    assert world.get(f"alice.{BASE}", "/").text == "three"
    gone = home.request(world.client, "POST", "/rollback", {"seq": 99})
    assert gone.status_code == 404 and gone.json()["error"] == "not-kept"


def test_only_the_last_keep_commits_sites_are_kept(world: World) -> None:
    home = world.enrolled("alice")
    for n in range(5):
        home.write_site({"index.html": f"v{n}"})
        assert home.publish(world.client, home.snapshot()).status_code == 200

    doc = home.request(world.client, "GET", "/tenant").json()

    assert doc["kept"] == [3, 4, 5]  # keep_commits = 3 in these tests


def test_bundle_streams_the_tenants_repository(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.publish(world.client, commit)

    answer = home.request(world.client, "GET", "/bundle")

    assert answer.status_code == 200
    assert answer.content.startswith(b"HOMEPORT BUNDLE\n")
    assert commit.id in answer.content


def test_the_bundle_verifies_with_the_homes_keys(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    home.publish(world.client, home.snapshot())
    home.write_site({**SITE_V1, "index.html": "v2"})
    head = home.snapshot()
    home.publish(world.client, head)
    target = tmp_path / "restore.bundle"
    target.write_bytes(home.request(world.client, "GET", "/bundle").content)

    with open(target, "rb") as f:
        result = verify_bundle(f, repo_keys(home.data), tmp_path)

    assert result.header.head == head.id and result.header.since == 0
    assert [c.seq for c in result.new_commits] == [1, 2]
    assert result.objects == home.repo.object_stats()[0]


def test_the_bundle_is_byte_for_byte_the_homes_export(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    home.publish(world.client, home.snapshot())
    junk, stored = encode(ObjectType.CHUNK, (), b"uploaded, never published", False, None)
    assert home.upload(world.client, frame(junk, stored)).status_code == 200
    home.write_site({**SITE_V1, "index.html": "v2"})
    home.put_record("private", "another", False, title="more")
    home.publish(world.client, home.snapshot())
    ours = io.BytesIO()
    export_bundle(home.repo, {"did": home.did, "operations": home.operations}, ours)

    theirs = home.request(world.client, "GET", "/bundle").content

    assert theirs == ours.getvalue()
    assert junk not in theirs


def test_a_bundle_of_a_history_started_late_names_its_base(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    home.write_site({"index.html": "one"})
    first = home.snapshot()
    home.write_site({"index.html": "two"})
    second = home.snapshot()
    home.publish(world.client, second, history=False)
    target = tmp_path / "late.bundle"
    target.write_bytes(home.request(world.client, "GET", "/bundle").content)

    with open(target, "rb") as f:
        result = verify_bundle(f, repo_keys(home.data), tmp_path)

    assert result.header.since == 1 and result.header.base == first.id
    assert [c.seq for c in result.new_commits] == [2]


def test_fetch_returns_stored_objects_as_a_pack(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.publish(world.client, commit)
    unknown = "00" * 32

    answer = home.request(
        world.client, "POST", "/objects/fetch", {"ids": [commit.id.hex(), unknown]}
    )

    assert answer.status_code == 200
    assert answer.content == home.pack([commit.id])


def test_a_publish_without_a_site_keeps_the_backup_and_serves_nothing(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    home.push(world.client, commit)

    answer = home.request(
        world.client,
        "POST",
        "/publish",
        {"commit": commit.id.hex(), "operations": home.operations, "site": None, "files": {}},
    )

    assert answer.status_code == 200 and answer.json()["site"] is None
    assert home.request(world.client, "GET", "/tenant").json()["seq"] == 1
    assert world.get(f"alice.{BASE}", "/").status_code == 404


def test_the_api_root_says_what_it_is(world: World) -> None:
    doc = world.client.get(f"{API}/").json()
    assert doc["homeport"] == "provider" and doc["protocol"] == 2
    assert doc["base_domain"] == BASE


def test_unknown_api_path_is_a_json_404(world: World) -> None:
    answer = world.client.get(f"{API}/nothing")
    assert answer.status_code == 404 and answer.json()["error"] == "not-found"


def test_uploads_no_publish_adopts_are_dropped_after_a_day(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    first = home.snapshot()
    assert home.publish(world.client, first).status_code == 200
    home.write_site({**SITE_V1, "stale.bin": bytes(range(256)) * 300})
    stale = home.snapshot()
    assert home.push(world.client, stale)  # a push cut before its publish
    tdir = world.tenant_dir("alice")
    with tdir.opened() as repo:
        repo.db.execute("UPDATE objects SET received = 1 WHERE seq = 0")  # a day and more ago
    home.write_site({**SITE_V1, "fresh.bin": bytes(range(255)) * 300})
    fresh = home.snapshot()
    assert home.push(world.client, fresh)  # pending, but recent: kept for the resume
    charged = home.request(world.client, "GET", "/tenant").json()["usage"]

    again = home.request(world.client, "POST", "/publish", home.publish_doc(first))

    assert again.status_code == 200, again.text
    with tdir.opened() as repo:
        old = repo.db.execute("SELECT count(*) FROM objects WHERE seq = 0 AND received = 1")
        assert old.fetchone()[0] == 0
        recent = repo.db.execute("SELECT count(*) FROM objects WHERE seq = 0").fetchone()[0]
        assert recent > 0
        held = repo.stored_bytes() + sites.disk_usage(tdir)  # the quota counts the sites too
    usage = home.request(world.client, "GET", "/tenant").json()["usage"]
    assert usage == held < charged


def test_the_home_refuses_a_publish_the_quota_cannot_take_before_sending(world: World) -> None:
    home = world.enrolled("alice", quota=2_000)
    home.write_site(SITE_V1)
    home.snapshot()
    client = ProviderClient(
        str(world.client.base_url), Credentials(home.did, home.key), world.client
    )

    with pytest.raises(ProviderError) as refused:
        drivers.push(home.repo, client, home.operations, home.site)

    assert refused.value.code == "quota-exceeded" and refused.value.status == 507
    assert "nothing was sent" in str(refused.value) and "MB" in str(refused.value)
    doc = home.request(world.client, "GET", "/tenant").json()
    assert doc["usage"] == 0 and doc["head"] is None
