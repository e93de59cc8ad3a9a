"""Packs sent in segments (``sync/segments.py``): the signature covers the declared segments, each
segment is checked as it arrives and kept even when the rest never comes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from homeport.repo import walk
from homeport.repo.bundle import frame
from homeport.sync import segments
from tests.provider.conftest import API, PACK, SITE_V1, Home, World


def frames_of(home: Home, oids: list[bytes]) -> list[bytes]:
    return [frame(oid, home.repo.raw(oid)) for oid in oids]


def send(
    world: World, home: Home, pieces: list[bytes], body: bytes | None = None, **over: str
) -> Any:
    declared = over.pop("declared", segments.describe(pieces))
    signed_for = over.pop("signed_for", declared)
    auth = home.sign("POST", f"{API}/objects", digest=segments.digest(signed_for))
    headers = {**auth, "Content-Type": PACK, segments.HEADER: declared}
    content = b"".join(pieces) if body is None else body
    return world.client.post(f"{API}/objects", content=content, headers=headers)


def held(world: World, home: Home, oids: list[bytes]) -> set[bytes]:
    answer = home.request(
        world.client, "POST", "/objects/missing", {"ids": [o.hex() for o in oids]}
    )
    gone = {bytes.fromhex(m) for m in answer.json()["missing"]}
    return set(oids) - gone


@pytest.fixture
def objects(world: World) -> tuple[Home, list[bytes]]:
    home = world.enrolled("alice")
    home.write_site(SITE_V1)
    commit = home.snapshot()
    return home, list(walk.reachable(home.repo, commit.id))


def test_a_segmented_pack_is_kept_whole(world: World, objects: tuple[Home, list[bytes]]) -> None:
    home, oids = objects
    frames = frames_of(home, oids)
    pieces = [b"".join(frames[i : i + 3]) for i in range(0, len(frames), 3)]

    answer = send(world, home, pieces)

    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == len(oids)
    assert held(world, home, oids) == set(oids)


def test_a_segment_that_does_not_match_its_hash_keeps_the_ones_before(
    world: World, objects: tuple[Home, list[bytes]]
) -> None:
    home, oids = objects
    frames = frames_of(home, oids)
    pieces = [frames[0], frames[1], b"".join(frames[2:])]
    declared = segments.describe(pieces)
    damaged = bytearray(b"".join(pieces))
    damaged[len(pieces[0]) + len(pieces[1]) + 40] ^= 1

    answer = send(world, home, pieces, body=bytes(damaged), declared=declared)

    assert answer.status_code == 400
    assert answer.json()["error"] == "bad-object" and "segment 3" in answer.json()["message"]
    assert held(world, home, oids) == set(oids[:2])


def test_the_signature_covers_the_declared_segments(
    world: World, objects: tuple[Home, list[bytes]]
) -> None:
    home, oids = objects
    pieces = frames_of(home, oids[:2])
    other = segments.describe(frames_of(home, oids[2:4]))

    answer = send(world, home, pieces, signed_for=other)

    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert held(world, home, oids) == set()


@pytest.mark.parametrize(
    "declared",
    [
        "",
        "12",
        "0:" + "00" * 32,
        "5:abc",
        ",".join(["10:" + "00" * 32] * 129),
        f"{17 * 1024 * 1024}:" + "00" * 32,
    ],
)
def test_a_malformed_segments_header_is_400(
    world: World, objects: tuple[Home, list[bytes]], declared: str
) -> None:
    home, _ = objects
    answer = send(world, home, [b"x"], declared=declared)
    assert answer.status_code == 400 and answer.json()["error"] == "bad-request"


def test_a_body_shorter_or_longer_than_declared_is_400_keeping_whole_segments(
    world: World, objects: tuple[Home, list[bytes]]
) -> None:
    home, oids = objects
    pieces = frames_of(home, oids[:3])
    short = send(world, home, pieces, body=b"".join(pieces)[:-10])
    assert short.status_code == 400 and "were kept" in short.json()["message"]
    assert held(world, home, oids[:3]) == set(oids[:2])
    long = send(world, home, pieces, body=b"".join(pieces) + b"extra")
    assert long.status_code == 400


def test_a_connection_cut_mid_pack_keeps_the_segments_that_arrived(
    world: World, objects: tuple[Home, list[bytes]]
) -> None:
    home, oids = objects
    frames = frames_of(home, oids)
    half = len(frames) // 2
    pieces = [b"".join(frames[:half]), b"".join(frames[half:])]
    declared = segments.describe(pieces)
    auth = home.sign("POST", f"{API}/objects", digest=segments.digest(declared))
    headers = {**auth, "Content-Type": PACK, segments.HEADER: declared}

    async def cut() -> None:
        async def body() -> Any:
            yield pieces[0]
            await asyncio.sleep(0.5)  # uvicorn drops body bytes that arrive with the cut itself
            yield pieces[1][:100]
            raise ConnectionResetError("cut")  # the connection drops mid-body

        async with httpx.AsyncClient(base_url=str(world.client.base_url)) as client:
            with pytest.raises((httpx.HTTPError, ConnectionResetError)):
                await client.post(f"{API}/objects", content=body(), headers=headers)

    asyncio.run(cut())
    deadline = 50
    while held(world, home, oids) != set(oids[:half]) and deadline:
        asyncio.run(asyncio.sleep(0.1))
        deadline -= 1
    assert held(world, home, oids) == set(oids[:half])
