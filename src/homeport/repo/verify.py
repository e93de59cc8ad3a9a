"""Checking a home's repository end to end: every object against its id (opening private ones
with the home's keys), every commit's signature and link, and that every link resolves. A
problem with an object's bytes names the pack and offset its index row points at, so a damaged
pack or index row is found (at a provider, an audit's repair resends the object and
``Repository.replace`` points its row at the good copy in a new pack)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeport.core import commits
from homeport.core.commits import Commit, CommitError
from homeport.core.identity import IdentityError, current_key
from homeport.crypto.signing import verify as verify_signature
from homeport.repo.codec import ObjectError, check
from homeport.repo.repository import Repository, RepositoryError, split_links

MAX_PROBLEMS = 20
CENSUS_LIMIT = 10_000
"""``unreadable`` names at most this many objects at once (the next publish names the rest)."""


class VerifyReport:
    def __init__(self) -> None:
        self.objects = 0
        self.bytes = 0
        self.commits = 0
        self.problems: list[str] = []
        self.damaged: list[bytes] = []
        """Objects whose stored bytes are gone or wrong: a good copy mends them."""

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def verify_repository(
    repo: Repository, did: str, operations: Sequence[dict[str, Any]]
) -> VerifyReport:
    report = VerifyReport()
    try:
        current_key(did, operations, verify_signature)
    except IdentityError as exc:
        report.problem(f"identity log: {exc}")
    for where, stored in repo.scan():
        oid = where.id
        report.objects += 1
        if isinstance(stored, RepositoryError):
            report.problem(str(stored))
            report.damaged.append(oid)
            continue
        report.bytes += len(stored)
        try:
            header = check(oid, stored, repo.keys)
        except ObjectError as exc:
            report.problem(f"{exc} (pack {where.pack} at byte {where.pos})")
            report.damaged.append(oid)
            continue
        if header.links != split_links(where.links):
            report.problem(
                f"object {oid.hex()[:16]}: its index row's links differ from the object's"
            )
        for link in header.links:
            if not repo.has(link):
                report.problem(
                    f"object {link.hex()[:16]} (linked from {oid.hex()[:16]}) is missing"
                )
    previous: Commit | None = None
    rows_ = repo.db.execute("SELECT seq, id FROM commits ORDER BY seq").fetchall()
    for seq, raw in rows_:
        report.commits += 1
        try:
            commit = repo.commit(bytes(raw))
            if commit.seq != seq:
                raise CommitError(f"commit {seq}: its body says seq {commit.seq}")
            commits.check_link(previous, commit, did)
            commits.check_signature(commit, operations, verify_signature)
            previous = commit
        except (CommitError, ObjectError, RepositoryError) as exc:
            report.problem(str(exc))
            previous = None
    return report


def unreadable(repo: Repository, limit: int = CENSUS_LIMIT) -> list[bytes]:
    """Objects whose bytes are not where their index row says, found from the packs' sizes
    alone: a pack that is gone or shorter than the index records, or a row naming a pack the
    index does not have. One listing of the object store and no byte read, so a publish can
    afford it each time (a flipped byte needs reading: ``verify``, or ``sync/repair.py``'s
    spot check). A pack that looks short is looked at again after the listing, so one a
    repack or a collection replaced meanwhile is not taken for damage."""
    recorded = {
        str(name): (int(n), int(size))
        for n, name, size in repo.db.execute("SELECT n, name, size FROM packs WHERE size > 0")
    }
    stored = {name: size for name, size, _ in repo.objects.names()} if recorded else {}
    found: list[bytes] = []
    for name, (n, size) in recorded.items():
        if stored.get(name, -1) >= size:
            continue
        again = repo.db.execute("SELECT 1 FROM packs WHERE n = ?", (n,)).fetchone()
        if again is None:
            continue  # replaced by a repack since the listing
        have = repo.objects.size(name) or 0
        if have >= size:
            continue
        rows = repo.db.execute(
            "SELECT id FROM objects WHERE pack = ? AND pos + size > ? LIMIT ?",
            (n, have, limit - len(found)),
        ).fetchall()
        found.extend(bytes(r[0]) for r in rows)
        if len(found) >= limit:
            return found
    numbers = {n for n, _ in recorded.values()}
    for (n,) in repo.db.execute(_PACKS_NAMED).fetchall():  # a seek per pack, not a scan
        if n is not None and int(n) not in numbers and len(found) < limit:
            rows = repo.db.execute(
                "SELECT id FROM objects WHERE pack = ? AND pack NOT IN (SELECT n FROM packs)"
                " LIMIT ?",
                (n, limit - len(found)),
            ).fetchall()
            found.extend(bytes(r[0]) for r in rows)
    if len(found) < limit:
        rows = repo.db.execute(
            "SELECT id FROM objects WHERE pack IS NULL LIMIT ?", (limit - len(found),)
        ).fetchall()
        found.extend(bytes(r[0]) for r in rows)
    return found


_PACKS_NAMED = """
WITH RECURSIVE named(p) AS (
    SELECT min(pack) FROM objects
    UNION ALL
    SELECT (SELECT min(pack) FROM objects WHERE pack > named.p) FROM named
    WHERE named.p IS NOT NULL
)
SELECT p FROM named WHERE p IS NOT NULL
"""
"""The pack numbers the objects' rows name, one index seek each (a loose index scan, the
same on SQLite and PostgreSQL): the census must not cost a pass over every row."""
