"""Garbage collection of a repository: mark what must be kept, sweep the rest.

What is kept: every object the commits in ``commits`` reach (at the home, its whole history; at
a provider, the history it was sent — a restore imports all of it, so a provider keeps every
commit's tree as well). What goes:

- objects no commit reaches whose seq is at most the head's (brought by an import that adopted
  objects its commits do not reach, or left when a history was cut); objects with a seq past
  the head belong to a snapshot in flight (or one that was killed: its re-run sweeps them) and
  are never touched here;
- pending uploads (seq 0) received before ``pending_before``: a provider's uploads no publish
  adopted within the grace window. The home passes None (its seq-0 objects are an import's,
  which cleans up after itself).

Safe against a concurrent writer only when the caller excludes writers: a snapshot or import in
flight may reuse an unreachable object it finds already stored. The home holds ``gc.lock``
(``writers``/``collector`` below); a provider holds the tenant's lock, as publishes do.

Crash-safe: the sweep is one transaction (``Repository.forget``); a kill leaves either the
objects or their absence, never an index that names something gone. If the mark meets an object
that is not there, nothing is swept: the repository is damaged and ``verify`` says where.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from homeport.repo.repository import Repository, RepositoryError, split_links
from homeport.store import filelock

BATCH = 500
GC_LOCK_FILE = "gc.lock"


class GcBusy(Exception):
    """A collection or a writer held the home's gc lock past the time allowed."""


@dataclass
class Tally:
    """How many things and how many bytes."""

    count: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.count += 1
        self.bytes += size


@dataclass
class RepoCollection:
    """What a repository's collection found (or, in a dry run, would remove)."""

    kept: Tally = field(default_factory=Tally)
    unreachable: Tally = field(default_factory=Tally)
    pending: Tally = field(default_factory=Tally)
    in_flight: Tally = field(default_factory=Tally)
    repacked: dict[str, Any] | None = None
    """What ``Repository.repack`` reported, when the repository has one."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mark(repo: Repository) -> set[bytes]:
    """Every object a commit of ``repo`` reaches (the commits included). Walks breadth first,
    a batch of ids per query, each object once. Raises RepositoryError naming an object that
    something links to and is not there."""
    roots = [bytes(r[0]) for r in repo.db.execute("SELECT id FROM commits").fetchall()]
    marked: set[bytes] = set(roots)
    frontier = roots
    while frontier:
        following: list[bytes] = []
        for start in range(0, len(frontier), BATCH):
            part = frontier[start : start + BATCH]
            marks = ",".join("?" * len(part))
            rows = repo.db.execute(
                f"SELECT id, links FROM objects WHERE id IN ({marks})", part
            ).fetchall()
            if len(rows) != len(part):
                found = {bytes(r[0]) for r in rows}
                gone = next(oid for oid in part if oid not in found)
                raise RepositoryError(
                    f"object {gone.hex()[:16]} is missing from the repository: nothing was "
                    "collected (run 'homeport verify')"
                )
            for _, links in rows:
                for link in split_links(bytes(links)):
                    if link not in marked:
                        marked.add(link)
                        following.append(link)
        frontier = following
    return marked


def _head_seq(repo: Repository) -> int:
    row = repo.db.execute("SELECT coalesce(max(seq), 0) FROM commits").fetchone()
    return int(row[0])


def plan(repo: Repository, pending_before: int | None) -> tuple[RepoCollection, list[bytes]]:
    """What a collection would remove, and the ids, without writing anything."""
    marked = mark(repo)
    head_seq = _head_seq(repo)
    found = RepoCollection()
    doomed: list[bytes] = []
    for raw_id, seq, size, received in repo.db.stream(
        "SELECT id, seq, size, received FROM objects"
    ):
        oid = bytes(raw_id)
        if oid in marked:
            found.kept.add(int(size))
        elif seq == 0:
            if pending_before is not None and int(received) < pending_before:
                found.pending.add(int(size))
                doomed.append(oid)
            else:
                found.kept.add(int(size))
        elif int(seq) > head_seq:
            found.in_flight.add(int(size))
        else:
            found.unreachable.add(int(size))
            doomed.append(oid)
    return found, doomed


def collect(
    repo: Repository, *, dry_run: bool = False, pending_before: int | None = None
) -> RepoCollection:
    """Mark and sweep ``repo`` (see the module's docstring); then repack, if the repository
    knows how, and remove packs no index row names (a provider's tenants are not reopened at
    its start, so this is where theirs go). The caller excludes writers."""
    found, doomed = plan(repo, pending_before)
    if dry_run:
        return found
    if doomed:
        with repo.transaction():
            repo.forget(doomed)
    repack = getattr(repo, "repack", None)  # the pack files' (storage v2): reclaim what went
    if callable(repack):
        result = repack()
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            found.repacked = dataclasses.asdict(result)
        else:
            found.repacked = {"result": str(result)}
    sweep = getattr(repo, "sweep_packs", None)  # packs a killed transaction left unnamed
    if callable(sweep):
        sweep()
    return found


# --- the home's gc lock (``store/filelock.py``) -----------------------------------------------
@contextlib.asynccontextmanager
async def writers(data_dir: Path, wait: float = 600.0) -> AsyncIterator[None]:
    """Held (shared) by whatever writes objects into the home's repository — a snapshot, an
    import — so a collection never runs while one is in flight. Writers do not exclude each
    other here, and a task may hold it twice. Waits without blocking the event loop. A
    data dir that is not there yet holds nothing to collect: no lock (nor lock file) then."""
    if not data_dir.is_dir():
        yield
        return
    async with filelock.held_async(data_dir / GC_LOCK_FILE, wait, _collecting, shared=True):
        yield


def _collecting() -> GcBusy:
    return GcBusy("a garbage collection of this home is running; try again when it is done")


def _writing() -> GcBusy:
    return GcBusy(
        "a garbage collection or a snapshot of this home is running; try again when it is done"
    )


def collector(data_dir: Path, wait: float) -> contextlib.AbstractContextManager[None]:
    """Held (exclusive) by a collection of the home: no writer is in flight meanwhile."""
    return filelock.held(data_dir / GC_LOCK_FILE, wait, _writing)
