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


class VerifyReport:
    def __init__(self) -> None:
        self.objects = 0
        self.bytes = 0
        self.commits = 0
        self.problems: list[str] = []

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
            continue
        report.bytes += len(stored)
        try:
            header = check(oid, stored, repo.keys)
        except ObjectError as exc:
            report.problem(f"{exc} (pack {where.pack} at byte {where.pos})")
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
