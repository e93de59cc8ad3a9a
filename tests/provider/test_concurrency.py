"""Readers during publishes see one whole site or the other, never a mix or an error."""

from __future__ import annotations

import asyncio

import httpx

from tests.provider.conftest import BASE, World

READERS = 50
VERSIONS = 5
PAGES = ("/", "/about/", "/data.txt")


def site(n: int) -> dict[str, str]:
    body = f"version {n} " * 4000
    return {
        "index.html": f"<!doctype html><title>v{n}</title><p>{body}</p>",
        "about/index.html": f"<!doctype html><title>about v{n}</title><p>{body}</p>",
        "data.txt": body * 3,
    }


def test_fifty_readers_during_publishes_never_see_a_mix(world: World) -> None:
    home = world.enrolled("alice")
    home.write_site(site(0))
    assert home.publish(world.client, home.snapshot()).status_code == 200
    commits = []
    for n in range(1, VERSIONS + 1):
        home.write_site(site(n))
        commits.append(home.snapshot())
    expected = {
        path: {site(n)[key] for n in range(VERSIONS + 1)}
        for path, key in zip(PAGES, ("index.html", "about/index.html", "data.txt"), strict=True)
    }
    seen: dict[str, set[str]] = {path: set() for path in PAGES}
    problems: list[str] = []

    async def main() -> None:
        done = asyncio.Event()
        url = str(world.client.base_url)
        limits = httpx.Limits(max_connections=READERS)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

            async def reader(i: int) -> None:
                rounds = 0
                while not done.is_set() or rounds < 2:
                    rounds += 1
                    path = PAGES[(i + rounds) % len(PAGES)]
                    answer = await client.get(path, headers={"Host": f"alice.{BASE}"})
                    if answer.status_code != 200 or answer.text not in expected[path]:
                        problems.append(f"{path}: {answer.status_code} {answer.text[:60]!r}")
                    seen[path].add(answer.text[:40])
                    if rounds > 400:
                        break

            async def publisher() -> None:
                for commit in commits:
                    answer = await asyncio.to_thread(home.publish, world.client, commit)
                    assert answer.status_code == 200, answer.text
                done.set()

            await asyncio.gather(publisher(), *(reader(i) for i in range(READERS)))

    asyncio.run(main())

    assert problems == []
    assert "version 5" in world.get(f"alice.{BASE}", "/").text
    assert sum(len(v) for v in seen.values()) > len(PAGES)  # readers saw the site change
