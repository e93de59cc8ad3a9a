"""Checking a home's repository end to end: every object against its id (opening private ones
with the home's keys), every commit's signature and link, and that every link resolves."""

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
    cur = repo.db.execute(
        "SELECT o.id, o.links, d.data FROM objects o JOIN data d ON d.n = o.n"
        " WHERE o.seq > 0 ORDER BY o.n"
    )
    while rows := cur.fetchmany(64):
        for raw_id, raw_links, data in rows:
            oid = bytes(raw_id)
            report.objects += 1
            report.bytes += len(data)
            try:
                header = check(oid, bytes(data), repo.keys)
            except ObjectError as exc:
                report.problem(str(exc))
                continue
            if header.links != split_links(bytes(raw_links)):
                report.problem(f"object {oid.hex()[:16]}: index links differ from the object's")
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
