"""Content-defined chunking (FastCDC) of attachments and other large files.

A file is cut where its content says so, not at fixed offsets: the cut points depend only on the
bytes around them, so an edit or an append re-creates only the chunks it touches and every other
chunk keeps its id. The cutting is FastCDC 2020 (normalized chunking level 1, seed 0) as built by
``pyfastcdc``'s Cython extension: 1.0 to 2.0 GB/s on one core through this module, chunk bytes
copied out. Its pure-Python fallback runs at a few MB/s, so this module refuses to run without
the compiled extension (``ChunkerUnavailableError`` at import). ``fastcdc``, the other compiled
chunker on PyPI, is not used as a second choice: it implements a different FastCDC variant, so
two devices with different packages installed would cut the same file differently and share
nothing.

Cut points are a function of the bytes and ``ChunkParams`` alone: the stream is read in blocks,
and a chunk is emitted only once at least ``max_size`` bytes after its start are in the buffer
(or the stream has ended), which is all the bytes the cutter can look at. Memory is bounded by
``max_size + 2 * read_size`` whatever the file size, and by the file's size for small files.

Default parameters, chosen by ``bench/chunking.py`` (full figures in docs/benchmarks.md): on a
seeded 206 MB library of 200 files, 2 photos replaced and 1 MiB appended to the largest file
(2.27 MB of real change), on one core of an AMD EPYC:

=================  =======  ==========  ==========  ==============================
average (min-max)  chunks   chunk MB/s  new chunks  bytes to send (x real change)
=================  =======  ==========  ==========  ==============================
16 KiB (4-64)      10,480   1,384       110         2.35 MB (1.03)
64 KiB (16-256)    2,725    2,018       28          2.31 MB (1.02)
256 KiB (64-1024)  756      1,709       8           2.67 MB (1.17)
1 MiB (256-4096)   301      1,164       4           3.38 MB (1.49)
=================  =======  ==========  ==========  ==============================

"Bytes to send" is the new chunks plus the 32-byte ids of every chunk of each changed file. The
default is 64 KiB (16 KiB to 256 KiB): it sends the least, 16 KiB sends slightly more and makes 3.8x
as many objects (each costs an index entry, an id in a chunk list and, for sync, a request slot;
about 13,000 objects per GB at 64 KiB against 50,000 at 16 KiB), and larger chunks send 17 % to
49 % more after the same change because every replaced or appended region drags a bigger
neighbour with it. It is also the fastest here. At 64 KiB a 100-byte per-object overhead is
about 0.13 % of the data.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from os import PathLike
from typing import BinaryIO

import pyfastcdc

__all__ = [
    "DEFAULT",
    "ChunkParams",
    "ChunkerUnavailableError",
    "chunk_file",
    "chunk_stream",
]

KiB = 1024
MiB = 1024 * KiB


class ChunkerUnavailableError(RuntimeError):
    """The compiled FastCDC extension cannot be loaded; the pure-Python fallback is never used."""


def _compiled_fastcdc() -> type[pyfastcdc.FastCDC]:
    """Return pyfastcdc's Cython ``FastCDC`` class, or raise if only the Python one would run."""
    hint = (
        "pyfastcdc's compiled extension (pyfastcdc.cy) is not available, and its pure-Python "
        "fallback is too slow to use (a few MB/s); reinstall it from a binary wheel: "
        "pip install --force-reinstall --only-binary=:all: pyfastcdc"
    )
    try:
        with warnings.catch_warnings():
            # pyfastcdc warns (and falls back) when its extension is missing; we raise instead.
            warnings.simplefilter("ignore")
            from pyfastcdc.cy import fastcdc as compiled
    except ImportError as exc:
        raise ChunkerUnavailableError(f"{hint} ({exc})") from exc
    origin = str(getattr(compiled, "__file__", None) or "")
    if not origin.endswith(tuple(EXTENSION_SUFFIXES)):
        raise ChunkerUnavailableError(f"{hint} (pyfastcdc.cy.fastcdc was loaded from {origin!r})")
    cls = getattr(compiled, "FastCDC", None)
    if cls is None or pyfastcdc.FastCDC is not cls:
        raise ChunkerUnavailableError(f"{hint} (pyfastcdc.FastCDC is not the compiled class)")
    return pyfastcdc.FastCDC


_FastCDC = _compiled_fastcdc()


@dataclass(frozen=True)
class ChunkParams:
    """FastCDC size bounds in bytes: no chunk is shorter than ``min_size`` except a file's last,
    none is longer than ``max_size``. Changing any of them moves every cut point, so a snapshot
    has to record the values it was cut with."""

    min_size: int
    avg_size: int
    max_size: int

    def __post_init__(self) -> None:
        # pyfastcdc's own bounds: min in [64, 1 MiB], avg in [256, 4 MiB], max in [1 KiB, 16 MiB].
        if not 64 <= self.min_size <= MiB:
            raise ValueError(f"min_size must be within [64, 1 MiB], got {self.min_size}")
        if not 256 <= self.avg_size <= 4 * MiB:
            raise ValueError(f"avg_size must be within [256, 4 MiB], got {self.avg_size}")
        if not KiB <= self.max_size <= 16 * MiB:
            raise ValueError(f"max_size must be within [1 KiB, 16 MiB], got {self.max_size}")
        if not self.min_size <= self.avg_size <= self.max_size:
            raise ValueError(f"need min_size <= avg_size <= max_size, got {self}")

    @classmethod
    def around(cls, avg_size: int) -> ChunkParams:
        """The usual FastCDC bounds for an average: a quarter of it and four times it."""
        return cls(min_size=avg_size // 4, avg_size=avg_size, max_size=avg_size * 4)


DEFAULT = ChunkParams.around(64 * KiB)


def _cutter(params: ChunkParams) -> pyfastcdc.FastCDC:
    return _FastCDC(
        params.avg_size,
        min_size=params.min_size,
        max_size=params.max_size,
        normalized_chunking=1,
        seed=0,
    )


def chunk_stream(
    stream: BinaryIO, params: ChunkParams = DEFAULT, *, read_size: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, chunk)`` for consecutive chunks of ``stream`` until it ends.

    Reads ``read_size`` bytes at a time (default ``4 * max_size``) and holds at most
    ``max_size + 2 * read_size`` bytes; the cut points depend neither on ``read_size`` nor on how
    many bytes each ``read`` returns.
    """
    block = read_size if read_size is not None else 4 * params.max_size
    if block < 1:
        raise ValueError(f"read_size must be positive, got {block}")
    cutter = _cutter(params)
    pending = bytearray()  # unconsumed bytes of the stream, from ``offset`` on
    offset = 0
    eof = False
    while not eof or pending:  # each round reads to the end or consumes at least one chunk
        while not eof and len(pending) < params.max_size + block:
            data = stream.read(block)
            if data:
                pending += data
            else:
                eof = True
        consumed = 0
        for start, chunk in _settled_chunks(cutter, pending, params.max_size, eof):
            yield offset + start, chunk
            consumed = start + len(chunk)
        del pending[:consumed]  # raises BufferError if a view of ``pending`` were still alive
        offset += consumed


def _settled_chunks(
    cutter: pyfastcdc.FastCDC, pending: bytearray, max_size: int, eof: bool
) -> Iterator[tuple[int, bytes]]:
    """The chunks of ``pending`` whose cut point is final: the cutter looks at most ``max_size``
    bytes ahead of a chunk's start, so a chunk is final once that many bytes are there, or at
    the end of the stream. Copies them out so no view of ``pending`` outlives this generator."""
    with memoryview(pending) as view:
        for chunk in cutter.cut_buf(view):
            if not eof and len(pending) - chunk.offset < max_size:
                return
            yield chunk.offset, bytes(chunk.data)


def chunk_file(
    path: str | PathLike[str], params: ChunkParams = DEFAULT
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, chunk)`` for the file at ``path``, reading it in blocks."""
    with open(path, "rb", buffering=0) as stream:  # our reads are large: no second buffer
        yield from chunk_stream(stream, params)
