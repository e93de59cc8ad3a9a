"""A home's repository and a provider app, and the moves of the sync protocol between them.

``Home`` is a real home repository (identity from ``services.identity``, a memory store, rendered
site files) that can sign requests and build packs. The provider app runs under uvicorn in a
thread on a free loopback port; ``Home.publish`` walks the whole push: missing, packs, publish.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql as pg_sql

from homeport.core import tree
from homeport.core.canonical import canonical
from homeport.core.commits import Commit
from homeport.core.objects import Flags, read_header
from homeport.crypto.signing import sign
from homeport.provider import domains
from homeport.provider.app import create_provider_app
from homeport.provider.db import ProviderDB
from homeport.provider.tenants import TenantDir
from homeport.repo import walk
from homeport.repo.bundle import frame
from homeport.repo.repository import Repository
from homeport.repo.snapshot import Signer, take_snapshot
from homeport.services import identity as ids
from homeport.services.repository import repo_keys, signer
from homeport.settings import Settings, load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore
from homeport.sync.auth import authorization, origin
from homeport.testing.live import free_port

BASE = "prov.test"
API = "/_homeport/v1"
PACK = "application/vnd.homeport.pack"
EVERYONE = "system.Everyone"


@dataclass
class Home:
    data: Path
    store: MemoryRecordStore
    blobs: FsBlobStore
    repo: Repository
    signer: Signer
    key: Ed25519PrivateKey
    did: str
    operations: list[dict[str, Any]]
    site: str = "blog"
    audience: str = ""
    """The provider's address, which every signature names."""
    phrase: str = ""
    """The recovery phrase (the root key's source), for tests of identity operations."""
    _n: int = field(default=0)

    @property
    def sites_root(self) -> Path:
        return self.data / "sites"

    def write_site(self, files: dict[str, bytes | str]) -> None:
        """Replace the rendered site with ``files``."""
        root = self.sites_root / self.site
        shutil.rmtree(root, ignore_errors=True)
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)

    def put_record(self, bucket: str, rid: str, public: bool, **data: Any) -> None:
        async def go() -> None:
            await self.store.update("bucket", "", bucket, {"id": bucket})
            if public:
                await self.store.set_permissions(f"/buckets/{bucket}", {"read": {EVERYONE}})
            await self.store.update("collection", f"/buckets/{bucket}", "c", {"id": "c"})
            await self.store.update(
                "record", f"/buckets/{bucket}/collections/c", rid, {"id": rid, **data}
            )

        asyncio.run(go())

    def snapshot(self) -> Commit:
        self._n += 1
        result = asyncio.run(
            take_snapshot(
                self.store,
                self.blobs,
                self.repo,
                self.signer,
                now_ms=1_795_400_000_000 + self._n * 1000,
                site_root=self.sites_root,
            )
        )
        assert result.commit is not None
        return result.commit

    def files(self, commit: Commit | None = None) -> dict[str, str]:
        """The site's files in ``commit``'s tree (the head's by default): path → file id."""
        prefix = f"site/{self.site}/"
        root = self.repo.root(commit or self.repo.head())
        return {
            key.removeprefix(prefix): value[0].hex()
            for key, value in tree.entries(root, self.repo.node)
            if key.startswith(prefix)
        }

    def sign(self, method: str, target: str, body: bytes = b"", **kw: Any) -> dict[str, str]:
        kw.setdefault("audience", self.audience)
        return {"Authorization": authorization(self.key, self.did, method, target, body, **kw)}

    def request(
        self, client: httpx.Client, method: str, path: str, doc: Any = None, **kw: Any
    ) -> Any:
        body = b"" if doc is None else json.dumps(doc).encode()
        headers = self.sign(method, API + path, body, audience=str(client.base_url))
        return client.request(method, API + path, content=body, headers=headers, **kw)

    def sealed(self, oid: bytes) -> bool:
        return bool(read_header(self.repo.raw(oid)).flags & Flags.SEALED)

    def pack(self, oids: list[bytes]) -> bytes:
        return b"".join(frame(oid, self.repo.raw(oid)) for oid in oids)

    def upload(self, client: httpx.Client, data: bytes) -> Any:
        signed = self.sign("POST", f"{API}/objects", data, audience=str(client.base_url))
        headers = {**signed, "Content-Type": PACK}
        return client.post(f"{API}/objects", content=data, headers=headers)

    def publish_doc(self, commit: Commit) -> dict[str, Any]:
        return {
            "commit": commit.id.hex(),
            "operations": self.operations,
            "site": self.site,
            "files": self.files(commit),
        }

    def push(self, client: httpx.Client, commit: Commit, history: bool = True) -> list[bytes]:
        """Upload what the provider lacks for ``commit``; the ids it lacked."""
        start = list(walk.reachable(self.repo, commit.id))
        if not history:
            start = [commit.id, *walk.reachable(self.repo, commit.root)]
        lacking: list[bytes] = []
        for i in range(0, len(start), 10_000):
            part = [o.hex() for o in start[i : i + 10_000]]
            answer = self.request(client, "POST", "/objects/missing", {"ids": part})
            assert answer.status_code == 200, answer.text
            lacking += [bytes.fromhex(h) for h in answer.json()["missing"]]
        for i in range(0, len(lacking), 200):
            answer = self.upload(client, self.pack(lacking[i : i + 200]))
            assert answer.status_code == 200, answer.text
        return lacking

    def publish(self, client: httpx.Client, commit: Commit, history: bool = True) -> Any:
        self.push(client, commit, history)
        return self.request(client, "POST", "/publish", self.publish_doc(commit))


def make_home(path: Path) -> Home:
    identity, phrase = ids.create(path)
    sign_with = signer(path)
    repo = Repository.open(path, repo_keys(path))
    key = sign_with.key
    home = Home(
        data=path,
        store=MemoryRecordStore(),
        blobs=FsBlobStore(path / "blobs"),
        repo=repo,
        signer=sign_with,
        key=key,
        did=identity.did,
        operations=identity.operations,
        phrase=phrase,
    )
    home.put_record("private", "secret", False, title="my diary")
    return home


class FakeVerifiers:
    """DNS and token files as dicts: ``txt[name] = [...]``, ``files[domain] = body``."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.files: dict[str, str] = {}

    async def lookup(self, name: str) -> list[str]:
        return self.txt.get(name, [])

    async def fetch(self, domain: str) -> str | None:
        return self.files.get(domain)


@dataclass
class World:
    settings: Settings
    db: ProviderDB
    client: httpx.Client
    verifiers: FakeVerifiers
    homes: list[Home]
    tmp: Path
    app: Any

    @property
    def engine(self) -> str:
        return self.db.engine

    def tenant_dir(self, name: str) -> TenantDir:
        """A tenant's directory and repository, on the world's engine."""
        return TenantDir.of(self.settings.data_dir, name, self.db.repositories)

    @property
    def cli_args(self) -> list[str]:
        """``--data`` and, on PostgreSQL, ``--database``: what operator commands need."""
        args = ["--data", str(self.settings.data_dir)]
        if self.settings.provider_database:
            args += ["--database", self.settings.provider_database]
        return args

    def invite(self, name: str | None = None, quota: int = 10**9) -> str:
        code = secrets.token_urlsafe(12)
        self.db.add_invite(code, name, quota, 0, 2**62)
        return code

    def home(self) -> Home:
        home = make_home(self.tmp / f"home{len(self.homes)}")
        home.audience = str(self.client.base_url)
        self.homes.append(home)
        return home

    def enroll_doc(self, home: Home, code: str, name: str) -> dict[str, Any]:
        """A signed enrollment request for ``home`` with a fresh challenge."""
        challenge = self.client.post(f"{API}/challenge").json()["challenge"]
        proof = {"audience": origin(home.audience), "challenge": challenge, "code": code}
        signed = canonical({**proof, "did": home.did, "purpose": "enroll"})
        return {
            "audience": origin(home.audience),
            "code": code,
            "challenge": challenge,
            "name": name,
            "identity": {"did": home.did, "operations": home.operations},
            "key": home.signer.key_did,
            "sig": sign(home.key, signed),
        }

    def enroll(self, home: Home, name: str, quota: int = 10**9, code: str | None = None) -> Any:
        doc = self.enroll_doc(home, code or self.invite(quota=quota), name)
        return self.client.post(f"{API}/enroll", json=doc)

    def enrolled(self, name: str, quota: int = 10**9) -> Home:
        home = self.home()
        answer = self.enroll(home, name, quota)
        assert answer.status_code == 201, answer.text
        return home

    def get(self, host: str, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={"Host": host, **headers}, follow_redirects=False)


SITE_V1 = {
    "index.html": "<!doctype html><title>v1</title><h1 class='h-card p-name'>Alice v1</h1>",
    "posts/hello/index.html": "<!doctype html><article class='h-entry'>"
    "<h1 class='p-name'>Hello</h1><div class='e-content'>v1 body</div></article>",
    "style.0123abcd.css": "body{color:black}" * 50,
    "404.html": "<!doctype html><title>Not found</title><p>v1 missing",
    "photo.jpg": bytes(range(256)) * 400,
}


class LiveApp:
    """The app under uvicorn in a thread on 127.0.0.1, stopped when the test ends."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def provider_postgres(_postgres_server: Any) -> str:
    """One database for the session's provider tests; each test leaves it empty again (dropping
    schemas is three times cheaper than ``CREATE DATABASE``)."""
    url: str = _postgres_server.create_database(f"provider_{secrets.token_hex(6)}")
    return url


def empty_provider_database(url: str) -> None:
    """Drop what a provider made: its schema and every tenant's."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = 'provider'"
            " OR nspname LIKE 'tenant\\_%'"
        ).fetchall()
        for (name,) in rows:
            conn.execute(pg_sql.SQL("DROP SCHEMA {} CASCADE").format(pg_sql.Identifier(name)))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Which database the provider keeps its state and the tenants' repositories in: every
    test of ``world`` runs on both. On PostgreSQL, the URL of an empty database."""
    if request.param == "sqlite":
        yield ""
        return
    url: str = request.getfixturevalue("provider_postgres")
    yield url
    empty_provider_database(url)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> Iterator[World]:
    for var in (
        "HOMEPORT_DATA",
        "HOMEPORT_BASE_DOMAIN",
        "HOMEPORT_KEEP_COMMITS",
        "HOMEPORT_PROVIDER_DATABASE",
    ):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(
        tmp_path / "provider", base_domain=BASE, keep_commits=3, provider_database=engine
    )
    db = ProviderDB(settings.data_dir, settings.provider_database)
    fake = FakeVerifiers()
    app = create_provider_app(
        settings, db=db, verifiers=domains.Verifiers(txt=fake.lookup, fetch=fake.fetch)
    )
    homes: list[Home] = []
    with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield World(settings, db, client, fake, homes, tmp_path, live)
    for home in homes:
        home.repo.close()
    db.close()


HomeFactory = Callable[[], Home]


@pytest.fixture
def alice(world: World) -> Home:
    """Tenant ``alice`` enrolled, with ``SITE_V1`` published."""
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    assert home.publish(world.client, home.snapshot()).status_code == 200
    return home
