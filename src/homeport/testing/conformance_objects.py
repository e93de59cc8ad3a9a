"""The ObjectStore contract (pack files) as a conformance suite; subclass it and provide an
``objects`` fixture giving an empty store (a fresh directory, a fresh bucket or prefix)::

    class TestFsObjectStore(ObjectStoreConformance):
        @pytest.fixture
        def objects(self, tmp_path):
            return FsObjectStore(tmp_path / "packs")

Every backend (memory, local disk, S3-compatible) runs it. The calls are synchronous: a
repository reads and writes packs from the thread that runs its transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from homeport.store.protocols import ObjectStore, ObjectStoreError

__all__ = ["ObjectStoreConformance"]

PIECE_MAX = 4 * 1024 * 1024
"""``stream`` must hand out pieces no bigger than this (it never reads a whole pack at once)."""
BIG = bytes(range(256)) * (5 * 4096 + 17)  # a little over 5 MiB: several pieces


def _pieces(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _names(objects: ObjectStore, prefix: str = "") -> list[str]:
    return [name for name, _, _ in objects.names(prefix)]


class ObjectStoreConformance:
    """Durable all-or-nothing puts, ranged reads, bounded streams, listing, deletion, scopes."""

    def test_put_returns_size_and_reads_back_by_range(self, objects: ObjectStore) -> None:
        assert objects.put("packs/a.pack", _pieces(BIG)) == len(BIG)
        assert objects.size("packs/a.pack") == len(BIG)
        assert objects.read("packs/a.pack", 0, 10) == BIG[:10]
        assert objects.read("packs/a.pack", 4_000_001, 70_000) == BIG[4_000_001:4_070_001]
        assert objects.read("packs/a.pack", len(BIG) - 3, 3) == BIG[-3:]
        assert objects.read("packs/a.pack", len(BIG), 0) == b""

    def test_stream_whole_and_ranges_in_bounded_pieces(self, objects: ObjectStore) -> None:
        objects.put("p", [BIG])
        pieces = list(objects.stream("p"))
        assert b"".join(pieces) == BIG
        assert all(len(piece) <= PIECE_MAX for piece in pieces)
        assert b"".join(objects.stream("p", 1_000_003)) == BIG[1_000_003:]
        assert b"".join(objects.stream("p", 17, 4_500_000)) == BIG[17:4_500_017]
        assert b"".join(objects.stream("p", len(BIG))) == b""

    def test_empty_pack(self, objects: ObjectStore) -> None:
        assert objects.put("empty", []) == 0
        assert objects.size("empty") == 0
        assert b"".join(objects.stream("empty")) == b""
        assert _names(objects) == ["empty"]

    def test_missing_pack(self, objects: ObjectStore) -> None:
        assert objects.size("nope") is None
        with pytest.raises(FileNotFoundError):
            objects.read("nope", 0, 1)
        with pytest.raises(FileNotFoundError):
            list(objects.stream("nope"))

    def test_reading_past_the_end_is_an_error_not_a_short_answer(
        self, objects: ObjectStore
    ) -> None:
        objects.put("short", [b"0123456789"])
        with pytest.raises(ObjectStoreError) as raised:
            objects.read("short", 5, 6)
        assert not raised.value.transient
        with pytest.raises(ObjectStoreError):
            objects.read("short", 11, 1)
        with pytest.raises(ObjectStoreError):
            list(objects.stream("short", 4, 7))

    def test_failed_stream_leaves_nothing(self, objects: ObjectStore) -> None:
        def broken() -> Iterator[bytes]:
            yield BIG
            raise ConnectionError("the sender went away")

        with pytest.raises(ConnectionError):
            objects.put("half", broken())
        assert objects.size("half") is None
        assert _names(objects) == []

    def test_a_pack_is_invisible_until_put_returns(self, objects: ObjectStore) -> None:
        seen: list[object] = []

        def watched() -> Iterator[bytes]:
            yield BIG[:100]
            seen.append(objects.size("w"))
            seen.append(_names(objects))
            yield BIG[100:]

        objects.put("w", watched())
        assert seen == [None, []]
        assert objects.size("w") == len(BIG)

    def test_put_again_replaces_whole(self, objects: ObjectStore) -> None:
        objects.put("r", [b"first version"])
        assert objects.read("r", 0, 5) == b"first"
        objects.put("r", [b"second"])
        assert objects.size("r") == 6
        assert b"".join(objects.stream("r")) == b"second"

    def test_names_sizes_times_and_prefixes(self, objects: ObjectStore) -> None:
        before = time.time_ns() // 1_000_000 - 60_000
        objects.put("t/aa/1.pack", [b"x" * 3])
        objects.put("t/aa/2.pack", [b"y" * 5])
        objects.put("t/ab/3.pack", [b"z"])
        objects.put("u/4.pack", [b""])
        listed = list(objects.names())
        assert [(name, size) for name, size, _ in listed] == [
            ("t/aa/1.pack", 3),
            ("t/aa/2.pack", 5),
            ("t/ab/3.pack", 1),
            ("u/4.pack", 0),
        ]
        after = time.time_ns() // 1_000_000 + 60_000
        assert all(before <= modified <= after for _, _, modified in listed)
        assert _names(objects, "t/") == ["t/aa/1.pack", "t/aa/2.pack", "t/ab/3.pack"]
        assert _names(objects, "t/a") == ["t/aa/1.pack", "t/aa/2.pack", "t/ab/3.pack"]
        assert _names(objects, "t/aa/") == ["t/aa/1.pack", "t/aa/2.pack"]
        assert _names(objects, "t/aa/2") == ["t/aa/2.pack"]
        assert _names(objects, "v") == []

    def test_delete_is_idempotent(self, objects: ObjectStore) -> None:
        objects.put("d/1", [b"abc"])
        objects.read("d/1", 0, 3)  # a backend that caches handles has one now
        objects.delete("d/1")
        assert objects.size("d/1") is None
        with pytest.raises(FileNotFoundError):
            objects.read("d/1", 0, 3)
        objects.delete("d/1")
        assert _names(objects) == []

    def test_scoped_names_are_relative_and_nest(self, objects: ObjectStore) -> None:
        tenant = objects.scoped("tenants/t1")
        tenant.put("packs/1.pack", [b"one"])
        objects.put("tenants/t2/packs/1.pack", [b"two"])
        assert tenant.read("packs/1.pack", 0, 3) == b"one"
        assert b"".join(tenant.stream("packs/1.pack", 1)) == b"ne"
        assert tenant.size("packs/1.pack") == 3
        assert [(n, s) for n, s, _ in tenant.names()] == [("packs/1.pack", 3)]
        assert _names(objects, "tenants/") == [
            "tenants/t1/packs/1.pack",
            "tenants/t2/packs/1.pack",
        ]
        packs = tenant.scoped("packs")
        assert _names(packs) == ["1.pack"]
        assert packs.read("1.pack", 0, 3) == b"one"
        packs.delete("1.pack")
        assert objects.size("tenants/t1/packs/1.pack") is None
        assert _names(objects) == ["tenants/t2/packs/1.pack"]

    def test_threads_write_and_read_at_once(self, objects: ObjectStore) -> None:
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                body = bytes([i]) * (100_000 + i)
                for round_ in range(3):
                    objects.put(f"c/{i}-{round_}", _pieces(body, 7_000))
                    assert objects.read(f"c/{i}-{round_}", 99_999, 1 + i) == body[99_999:]
            except BaseException as exc:  # reported below, on the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == [] and not any(t.is_alive() for t in threads)
        assert len(_names(objects, "c/")) == 18

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "/abs",
            "a//b",
            "a/",
            "../up",
            "a/../b",
            "a/./b",
            ".hidden",
            "a/.incoming-x",
            "sp ace",
            "a\\b",
            "nul\x00",
            "new\nline",
            "é",
            "x" * 600,
        ],
    )
    def test_rejects_malformed_names(self, objects: ObjectStore, bad: str) -> None:
        with pytest.raises(ValueError):
            objects.put(bad, [b"x"])
        for call in (
            lambda: objects.read(bad, 0, 1),
            lambda: list(objects.stream(bad)),
            lambda: objects.size(bad),
            lambda: objects.delete(bad),
            lambda: objects.scoped(bad),
        ):
            with pytest.raises(ValueError):
                call()
        assert _names(objects) == []

    def test_rejects_negative_ranges(self, objects: ObjectStore) -> None:
        objects.put("n", [b"abc"])
        with pytest.raises(ValueError):
            objects.read("n", -1, 1)
        with pytest.raises(ValueError):
            objects.read("n", 0, -1)
