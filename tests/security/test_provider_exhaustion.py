"""A tenant (enrolled, signing correctly) attacking the provider's memory, disk and CPU: every
attack is refused with a clear 4xx in the provider's error shape, writes nothing it was not
charged for, and costs at most a fixed bound per request (issue L). On SQLite and PostgreSQL.

Peak memory is the process's high-water mark (``VmHWM``), reset before each attack: the
provider runs in this process, in a thread (``tests/provider/conftest.py``).
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pytest
import zstandard

from homeport.core.objects import Flags, ObjectType, pack_header
from homeport.repo.bundle import frame
from homeport.repo.codec import ObjectError, check
from tests.provider.conftest import World

MB = 1024 * 1024
BOMB_DECLARES = 256 * MB
"""Four times the 64 MiB limit on an object's body."""
MEMORY_BOUND = 160 * MB
"""What one hostile request may add to the process's peak (the limit, its copy, slack)."""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures memory through /proc"
)


def reset_peak() -> int:
    """Reset this process's peak RSS to its current RSS; that RSS, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak() -> int:
    return _status("VmHWM")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


_BOMB: list[bytes] = []


def zstd_bomb(declared: int = BOMB_DECLARES) -> bytes:
    """A small zstd frame that declares, and really inflates to, ``declared`` zero bytes."""
    if not _BOMB:
        out = io.BytesIO()
        compressor = zstandard.ZstdCompressor(level=3, write_content_size=True)
        with compressor.stream_writer(out, size=declared, closefd=False) as writer:
            zeros = bytes(MB)
            for _ in range(declared // MB):
                writer.write(zeros)
        _BOMB.append(out.getvalue())
    return _BOMB[0]


def bomb_object() -> tuple[bytes, bytes]:
    """A public chunk whose stored payload is the bomb (under a made-up id)."""
    stored = pack_header(ObjectType.CHUNK, Flags.COMPRESSED, ()) + zstd_bomb()
    return secrets.token_bytes(32), stored


def test_a_zstd_bomb_never_inflates_past_the_limit(world: World) -> None:
    home = world.enrolled("mallory")
    oid, stored = bomb_object()
    assert len(stored) < 64 * 1024
    usage = home.request(world.client, "GET", "/tenant").json()["usage"]
    base = reset_peak()
    answer = home.upload(world.client, frame(oid, stored))
    grown = peak() - base
    assert grown < MEMORY_BOUND, f"the bomb took the provider up {grown // MB} MB"
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-object"
    assert answer.json()["object"] == oid.hex()
    assert "limit" in answer.json()["message"]
    assert home.request(world.client, "GET", "/tenant").json()["usage"] == usage


def test_a_restoring_home_does_not_inflate_a_bomb_either() -> None:
    """What a hostile provider hands back goes through the same check on import and audit."""
    oid, stored = bomb_object()
    base = reset_peak()
    with pytest.raises(ObjectError) as raised:
        check(oid, stored, None)
    assert peak() - base < MEMORY_BOUND
    assert "limit" in str(raised.value)
