"""The rolling spot check (``sync/repair.py``): each publish reads back one slice of a
provider's copy, so a flipped byte anywhere is found within (library / slice) publishes, and
the slices go round; and ``fetch_back`` takes only copies that match their ids."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from homeport.core.objects import ObjectType
from homeport.repo.codec import encode, object_id
from homeport.repo.repository import Repository
from homeport.sync import repair
from homeport.sync.providers import _spot_check_due


class Copy:
    """A provider's copy of the objects, answering ``fetch`` as ``ProviderClient`` does (those
    it holds, as stored)."""

    url = "http://provider.test"

    def __init__(self, objects: dict[bytes, bytes]) -> None:
        self.objects = dict(objects)
        self.fetched = 0

    def fetch(self, ids: list[bytes]) -> dict[bytes, bytes]:
        self.fetched += len(ids)
        return {oid: self.objects[oid] for oid in ids if oid in self.objects}


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    opened = Repository.open(tmp_path, None)
    with opened.transaction():
        for n in range(40):
            body = secrets.token_bytes(900) + n.to_bytes(4, "big")
            oid = object_id(ObjectType.CHUNK, (), body, False, None)
            stored = encode(ObjectType.CHUNK, (), body, False, None, oid)[1]
            opened.put(oid, ObjectType.CHUNK, (), stored, 1)
    return opened


def flip(stored: bytes) -> bytes:
    """The last byte changed, always (setting it to 0 left one object in 256 as it was)."""
    return stored[:-1] + bytes([stored[-1] ^ 0xFF])


def everything(repo: Repository) -> dict[bytes, bytes]:
    return dict(repo.iter_objects())


def test_the_slices_go_round_and_find_a_flip_wherever_it_is(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repair, "SPOT_BYTES", 9000)  # about ten objects a publish
    copy = Copy(everything(repo))
    ordered = sorted(copy.objects)
    flipped = ordered[27]
    copy.objects[flipped] = flip(copy.objects[flipped])
    cursor = b""
    found: list[tuple[int, list[bytes]]] = []
    for publish in range(5):
        damaged, cursor = repair.spot_check(repo, copy, cursor)  # type: ignore[arg-type]
        found.append((publish, damaged))
    assert [d for _, d in found if d] == [[flipped]]  # once per round, in the third slice
    assert found[2][1] == [flipped] and copy.fetched == 40 + 10  # a round and a slice more
    assert repair.spot_check(repo, Copy({}), b"")[0] == []  # what it lacks is not judged here
    repo.close()


def test_fetch_back_takes_only_good_copies_and_says_what_is_left(repo: Repository) -> None:
    good = everything(repo)
    ids = sorted(good)[:3]
    bad = Copy({ids[0]: flip(good[ids[0]])})
    sound = Copy({ids[0]: good[ids[0]], ids[1]: good[ids[1]]})
    mended = repair.fetch_back(repo, [bad, sound], ids)  # type: ignore[list-item]
    assert mended.mended == {sound.url: [ids[0], ids[1]]} and mended.left == [ids[2]]
    assert repo.raw(ids[0]) == good[ids[0]]
    repo.close()


def test_a_slice_is_read_back_at_most_once_an_interval() -> None:
    """At every publish the read-back cost a MiB on the wire, even with nothing to send."""
    now = int(time.time() * 1000)
    assert _spot_check_due({}, 3600)  # never checked
    assert not _spot_check_due({"checked_at": now - 60_000}, 3600)
    assert _spot_check_due({"checked_at": now - 3_601_000}, 3600)
    assert _spot_check_due({"checked_at": now}, 0)  # 0: every publish
