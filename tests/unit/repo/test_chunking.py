import hashlib
import io
import random
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pyfastcdc
import pytest

from homeport.repo import chunking
from homeport.repo.chunking import ChunkParams, chunk_file, chunk_stream

SMALL = ChunkParams.around(4096)  # many chunks from little data: fast tests


def data(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


class Trickle(io.RawIOBase):
    """A stream whose every read returns at most ``step`` bytes, like a pipe or a socket."""

    def __init__(self, payload: bytes, step: int) -> None:
        self._source = io.BytesIO(payload)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        return self._source.readinto(memoryview(b)[: self._step])


def cuts(stream: io.IOBase, params: ChunkParams = SMALL, **kw: int) -> list[tuple[int, bytes]]:
    return list(chunk_stream(stream, params, **kw))  # type: ignore[arg-type]


def test_chunks_reassemble_to_the_input_at_their_offsets() -> None:
    payload = data(1_000_003)
    chunks = cuts(io.BytesIO(payload))
    assert b"".join(c for _, c in chunks) == payload
    expected = 0
    for offset, chunk in chunks:
        assert offset == expected
        expected += len(chunk)


def test_chunk_sizes_stay_within_bounds_except_the_last() -> None:
    chunks = cuts(io.BytesIO(data(2_000_000)))
    sizes = [len(c) for _, c in chunks]
    assert len(sizes) > 100
    assert all(SMALL.min_size <= s <= SMALL.max_size for s in sizes[:-1])
    assert 0 < sizes[-1] <= SMALL.max_size


def test_cut_points_are_those_of_the_whole_buffer() -> None:
    payload = data(1_500_000)
    reference = [
        (c.offset, bytes(c.data))
        for c in pyfastcdc.FastCDC(
            SMALL.avg_size, min_size=SMALL.min_size, max_size=SMALL.max_size
        ).cut_buf(payload)
    ]
    assert cuts(io.BytesIO(payload)) == reference


@pytest.mark.parametrize("read_size", [1, 1000, 4096, 16_384, 65_537, 10_000_000])
def test_cut_points_do_not_depend_on_the_read_size(read_size: int) -> None:
    payload = data(700_001)
    assert cuts(io.BytesIO(payload), read_size=read_size) == cuts(io.BytesIO(payload))


@pytest.mark.parametrize("step", [1, 777, 5000])
def test_cut_points_do_not_depend_on_short_reads(step: int) -> None:
    payload = data(300_000)
    assert cuts(Trickle(payload, step)) == cuts(io.BytesIO(payload))


def test_an_insertion_in_the_middle_changes_only_a_few_chunks() -> None:
    payload = data(20 * 1024 * 1024, seed=42)
    middle = len(payload) // 2
    edited = payload[:middle] + b"homeport" + payload[middle:]

    def ids(blob: bytes) -> list[str]:
        return [hashlib.sha256(c).hexdigest() for _, c in chunk_stream(io.BytesIO(blob))]

    before, after = ids(payload), ids(edited)
    shared = set(before) & set(after)
    assert len(before) > 100
    assert len(shared) >= 0.95 * len(before)
    assert len(after) - len(shared) <= 3


def test_empty_input_yields_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert cuts(io.BytesIO(b"")) == []
    assert list(chunk_file(empty)) == []


def test_chunk_file_matches_chunk_stream(tmp_path: Path) -> None:
    payload = data(400_000)
    path = tmp_path / "f"
    path.write_bytes(payload)
    assert list(chunk_file(path, SMALL)) == cuts(io.BytesIO(payload))


def test_the_compiled_extension_is_what_runs() -> None:
    from pyfastcdc.cy import fastcdc as compiled

    assert chunking._FastCDC is compiled.FastCDC
    assert str(compiled.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def test_a_missing_extension_is_refused_not_replaced_by_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail, as when no wheel matched the platform.
    monkeypatch.setitem(sys.modules, "pyfastcdc.cy.fastcdc", None)
    monkeypatch.delitem(sys.modules, "pyfastcdc.cy", raising=False)
    with pytest.raises(chunking.ChunkerUnavailableError, match="compiled extension"):
        chunking._compiled_fastcdc()


def test_params_are_checked() -> None:
    with pytest.raises(ValueError):
        ChunkParams(min_size=8192, avg_size=4096, max_size=16_384)
    with pytest.raises(ValueError):
        ChunkParams(min_size=16, avg_size=4096, max_size=16_384)
    assert ChunkParams.around(65_536) == ChunkParams(16_384, 65_536, 262_144)
