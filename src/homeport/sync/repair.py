"""Finding damaged copies of objects, and mending them from a good copy elsewhere.

A copy is damaged when its pack lost bytes (removed, truncated, flipped) or its index row points
at the wrong bytes. Finding it must not cost reading everything at each publish, so a publish
looks three cheap ways, and ``verify`` (``homeport verify``, ``homeport verify --provider``)
reads everything when asked:

- the pack census (``repo.verify.unreadable``): the packs' sizes in the object store against
  the index, one listing and no byte read; finds removed and truncated packs. The provider runs
  it at each ``GET /tenant`` and names what it finds (``damaged``), the home before each
  publish;
- a rolling spot check (``spot_check``): each publish fetches the next ``SPOT_BYTES`` of the
  provider's copy, in the order of the home's index, and checks them with the home's keys
  (which can open sealed objects, the provider cannot); a flipped byte or a moved row is found
  within (library size / SPOT_BYTES) publishes;
- what ``verify`` found and recorded: at a provider the audit's list (``providers.json``'s
  ``repair``), at home ``repair.json`` (``HOME_DAMAGE_FILE``).

A provider's damaged objects are uploaded again with ``replace`` (the engine's repair); a home's
are fetched back from a provider that holds a good copy (``fetch_back``), checked against their
ids, and written to a new pack with ``Repository.replace``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from homeport import jsonio
from homeport.files import write_atomically
from homeport.repo.codec import ObjectError, RepoKeys, check
from homeport.repo.repository import Repository
from homeport.sync.client import ProviderClient, ProviderError

SPOT_BYTES = 1024 * 1024
"""How much of a provider's copy each publish reads back and checks."""
SPOT_OBJECTS = 1000
"""…and at most this many objects (a library of small entries)."""
HOME_DAMAGE_FILE = "repair.json"
"""The home's damaged objects ``homeport verify`` found, mended by the next publish."""
FETCH_BATCH = 2000


def good(oid: bytes, stored: bytes, keys: RepoKeys | None) -> bool:
    try:
        check(oid, stored, keys)
    except ObjectError:
        return False
    return True


def spot_slice(repo: Repository, after: bytes) -> list[bytes]:
    """The next objects of the home's index after ``after`` (by id), up to SPOT_BYTES /
    SPOT_OBJECTS; from the start again once the end is passed."""
    rows = repo.db.execute(
        "SELECT id, size FROM objects WHERE seq > 0 AND id > ? ORDER BY id LIMIT ?",
        (after, SPOT_OBJECTS),
    ).fetchall()
    ids: list[bytes] = []
    held = 0
    for oid, size in rows:
        ids.append(bytes(oid))
        held += int(size)
        if held >= SPOT_BYTES:
            break
    return ids


def cursor_of(raw: object) -> bytes:
    """Where the last spot check stopped, as ``providers.json`` keeps it (hex)."""
    try:
        return bytes.fromhex(raw) if isinstance(raw, str) else b""
    except ValueError:
        return b""


def spot_check(
    repo: Repository, provider: ProviderClient, after: bytes
) -> tuple[list[bytes], bytes]:
    """Fetch the next slice of the provider's copy and check it: ``(damaged ids, where the
    next check starts)``. Objects the provider does not hold are not judged here (the
    provider's rules may leave them out; those it lost are in its census)."""
    ids = spot_slice(repo, after)
    if not ids and after:
        ids = spot_slice(repo, b"")  # the end was passed: round again
    if not ids:
        return [], b""
    got = provider.fetch(ids)
    damaged = [oid for oid in ids if oid in got and not good(oid, got[oid], repo.keys)]
    return damaged, ids[-1]


# --- the home's own damage ---------------------------------------------------------------------
def recorded(data_dir: Path) -> list[bytes]:
    """The damaged objects ``homeport verify`` recorded at home."""
    try:
        doc = jsonio.loads((data_dir / HOME_DAMAGE_FILE).read_bytes())
        return [bytes.fromhex(str(i)) for i in doc.get("damaged", [])]
    except (OSError, ValueError, AttributeError):
        return []


def record(data_dir: Path, ids: Iterable[bytes], merge: bool = True) -> None:
    """Remember damaged objects (with those already recorded, if ``merge``) for the next
    publish or repair; no file when there are none."""
    every = sorted({*(recorded(data_dir) if merge else ()), *ids})
    path = data_dir / HOME_DAMAGE_FILE
    if not every:
        path.unlink(missing_ok=True)
        return
    write_atomically(path, jsonio.dumps({"damaged": [i.hex() for i in every]}) + b"\n")


@dataclass
class Mended:
    """What ``fetch_back`` did: ids mended (and from which provider), ids no provider had."""

    mended: dict[str, list[bytes]] = field(default_factory=dict)
    left: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def fetch_back(repo: Repository, providers: list[ProviderClient], ids: list[bytes]) -> Mended:
    """Fetch good copies of ``ids`` from the providers in turn (each checked against its id,
    with the home's keys), and point the home's index at them in new packs."""
    result = Mended()
    wanted = [oid for oid in dict.fromkeys(ids) if repo.has(oid)]
    for provider in providers:
        if not wanted:
            break
        found: dict[bytes, bytes] = {}
        try:
            for start in range(0, len(wanted), FETCH_BATCH):
                got = provider.fetch(wanted[start : start + FETCH_BATCH])
                found.update((o, s) for o, s in got.items() if good(o, s, repo.keys))
        except ProviderError as exc:
            result.errors.append(str(exc))
        if found:
            with repo.transaction():
                for oid, stored in found.items():
                    repo.replace(oid, stored)
            result.mended[provider.url] = list(found)
        wanted = [oid for oid in wanted if oid not in found]
    result.left = wanted
    return result
