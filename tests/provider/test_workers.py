"""``provider serve --workers 2`` as a real process: both workers serve the site, each sees a
publish made through the other, and one tenant's publishes never run at once across them."""

from __future__ import annotations

import asyncio
import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.provider.db import ProviderDB
from homeport.provider.locks import TenantLock
from homeport.settings import load_settings
from homeport.testing.live import free_port
from tests.provider.conftest import API, BASE, FakeVerifiers, World

HOST = f"alice.{BASE}"
pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")


def site(n: int) -> dict[str, str]:
    return {
        "index.html": f"<!doctype html><title>v{n}</title>" + f"<p>version {n}</p>" * 200,
        "about/index.html": f"<!doctype html><title>about v{n}</title>",
        "style.0123abcd.css": "body{color:black}" * 50,
    }


def workers_of(parent: int) -> list[int]:
    """The server processes ``parent`` spawned (not multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


def owners(port: int, pids: list[int]) -> dict[int, int]:
    """Client port → the worker holding the server side of that connection."""
    by_inode: dict[str, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                by_inode[link[8:-1]] = pid
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        remote_port = int(remote.split(":")[1], 16)
        if int(local.split(":")[1], 16) == port and remote_port and inode in by_inode:
            found[remote_port] = by_inode[inode]
    return found


def fetch(conn: http.client.HTTPConnection, path: str = "/") -> tuple[int, str, str]:
    conn.request("GET", path, headers={"Host": HOST, "Accept-Encoding": "identity"})
    answer = conn.getresponse()
    return answer.status, answer.getheader("etag") or "", answer.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, list[int], int]]:
    data, port = tmp_path / "provider", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_OPERATOR_PASSWORD="operator-password",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
    )
    command = [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data)]
    command += ["--port", str(port), "--base-domain", BASE, "--workers", "2"]
    log = (tmp_path / "provider.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(workers_of(proc.pid)) < 2 or not _answers(url):
            assert proc.poll() is None, (tmp_path / "provider.log").read_text()
            assert time.monotonic() < deadline, "provider serve --workers 2 did not start"
            time.sleep(0.1)
        db = ProviderDB(data)
        settings = load_settings(data, base_domain=BASE)
        with httpx.Client(base_url=url, timeout=30) as client:
            world = World(settings, db, client, FakeVerifiers(), [], tmp_path, None)
            yield world, workers_of(proc.pid), port
        for home in world.homes:
            home.repo.close()
        db.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "provider.log").read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}{API}/").status_code == 200
    except httpx.TransportError:
        return False


def test_both_workers_see_a_publish_made_through_either(
    served: tuple[World, list[int], int],
) -> None:
    world, pids, port = served
    home = world.enrolled("alice")
    home.write_site(site(1))
    assert home.publish(world.client, home.snapshot()).status_code == 200
    conns: list[http.client.HTTPConnection] = []
    held: dict[int, int] = {}
    while set(held.values()) != set(pids):
        assert len(conns) < 60, f"connections all went to {set(held.values())} of {pids}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert fetch(conn)[0] == 200
        conns.append(conn)
        held = owners(port, pids)
    try:
        home.write_site(site(2))
        commit = home.snapshot()
        assert home.publish(world.client, commit).status_code == 200
        etag = f'"{home.files(commit)["index.html"]}"'

        for conn in conns:
            assert fetch(conn) == (200, etag, site(2)["index.html"])
        assert set(owners(port, pids).values()) == set(pids)  # the same connections answered
    finally:
        for conn in conns:
            conn.close()


def test_one_tenants_publishes_across_workers_leave_one_whole_site(
    served: tuple[World, list[int], int],
) -> None:
    world, _, _ = served
    home = world.enrolled("alice")
    home.write_site(site(0))
    assert home.publish(world.client, home.snapshot()).status_code == 200
    commits = []
    for n in range(1, 7):
        home.write_site(site(n))
        commits.append(home.snapshot())
    for commit in commits:  # objects first: the publishes below race each other only
        home.push(world.client, commit)
    answers: list[int] = []

    def publish(index: int) -> None:
        with httpx.Client(base_url=str(world.client.base_url), timeout=60) as client:
            doc = home.publish_doc(commits[index])
            answers.append(home.request(client, "POST", "/publish", doc).status_code)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(len(commits))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert answers and all(code in (200, 409) for code in answers), answers
    doc = home.request(world.client, "GET", "/tenant").json()
    assert doc["live"] == doc["seq"]  # the head's site is the one served, not an older one
    # (the repository's write transaction already orders most of a publish; the lock is what
    # keeps the switch of ``live`` and the quota arithmetic in that order too)
    served_now = {p: world.get(HOST, p).text for p in ("/", "/about/")}
    version = next(n for n in range(7) if served_now["/"] == site(n)["index.html"])
    assert served_now["/about/"] == site(version)["about/index.html"]
    sites_dir = world.settings.data_dir / "tenants" / "alice" / "sites"
    assert not [p.name for p in sites_dir.iterdir() if p.name.startswith(".")]


def test_a_tenant_lock_waits_for_another_process(tmp_path: Path) -> None:
    lock = TenantLock.of(tmp_path, "alice")
    lock.path.parent.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock.path)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(0.6)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"

    async def take() -> float:
        started = time.monotonic()
        async with lock:
            waited = time.monotonic() - started
        async with lock:  # released: taken again at once
            pass
        return waited

    waited = asyncio.run(take())
    holder.wait(10)
    assert waited > 0.3


def test_two_workers_locks_of_one_tenant_exclude_each_other(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    first, second = TenantLock.of(tmp_path, "alice"), TenantLock.of(tmp_path, "alice")
    order: list[str] = []

    async def main() -> None:
        async def other() -> None:
            async with second:
                order.append("second")

        async with first:
            task = asyncio.create_task(other())
            await asyncio.sleep(0.2)
            order.append("first done")
        await task

    asyncio.run(main())
    assert order == ["first done", "second"]
