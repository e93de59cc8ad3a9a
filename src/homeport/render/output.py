"""Writing a build's output: atomic, only when the bytes changed, with a manifest.

The manifest (kept in the data dir, not in the served folder) maps each output path to the
fingerprint of its inputs and the SHA-256 of its bytes. A page whose fingerprint is unchanged
and whose file is still there is skipped without rendering; a page re-rendered to the same bytes
is not rewritten; a path no longer planned is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson

from homeport.files import stage as stage_file
from homeport.files import write_atomically


@dataclass(frozen=True)
class OutputFile:
    path: str
    """Relative to the output directory, with ``/`` separators."""
    sha256: str
    size: int


class Staged(NamedTuple):
    path: str
    fingerprint: str
    digest: str
    size: int
    temporary: str | None
    """The temporary file holding new bytes; None when the file on disk is already right."""


class Output:
    def __init__(
        self, root: Path, manifest: Path, known: dict[str, list[str | int]] | None = None
    ) -> None:
        self.root = root
        self.prefix = str(root) + os.sep
        self.manifest_path = manifest
        self.old: dict[str, list[str | int]] = known if known is not None else _load(manifest)
        self.new: dict[str, list[str | int]] = {}
        self.written: list[str] = []
        self.skipped = 0
        self.pending: list[tuple[str, Path]] = []
        """Files written to temporary names, renamed into place only by ``finish``."""

    def fresh(self, path: str, fingerprint: str) -> bool:
        """True (and the path kept) when the page's inputs are unchanged and its file exists."""
        known = self.old.get(path)
        if known is None or known[0] != fingerprint:
            return False
        try:
            if os.stat(self.prefix + path).st_size != known[2]:
                return False
        except OSError:
            return False
        self.new[path] = known
        self.skipped += 1
        return True

    def put(self, path: str, fingerprint: str, data: bytes) -> None:
        self.accept(self.stage(path, fingerprint, data))

    def stage(self, path: str, fingerprint: str, data: bytes) -> Staged:
        """Compare ``data`` with what is on disk and stage it under a temporary name if it
        differs. Changes nothing else, so build workers in other processes can call it."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / path
        known = self.old.get(path)
        same = _size(target) == len(data) and (
            known[1] == digest if known is not None else target.read_bytes() == data)
        temporary = None if same else stage_file(target, data)
        return Staged(path, fingerprint, digest, len(data), temporary)

    def accept(self, staged: Staged) -> None:
        """Record a staged page (from this process or a worker) in the new manifest."""
        self.new[staged.path] = [staged.fingerprint, staged.digest, staged.size]
        if staged.temporary is not None:
            self.pending.append((staged.temporary, self.root / staged.path))
            self.written.append(staged.path)

    def abort(self) -> None:
        """Drop the staged files: the folder stays as the previous build left it."""
        for temporary, target in self.pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            _prune(self.root, target.parent)
        self.pending.clear()

    def finish(self, *, partial: bool = False) -> list[str]:
        """Move the staged files into place, remove what is no longer planned and save the
        manifest; returns the removed paths. A ``partial`` build visited only some pages and
        keeps the others as they were."""
        for temporary, target in self.pending:
            os.replace(temporary, target)
        self.pending.clear()
        if partial:
            self.new = {**self.old, **self.new}
        removed = sorted(set(self.old) - set(self.new))
        for path in removed:
            with contextlib.suppress(FileNotFoundError):
                (self.root / path).unlink()
            _prune(self.root, (self.root / path).parent)
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.manifest_path, orjson.dumps(self.new))
        return removed

    def files(self) -> list[OutputFile]:
        return files_of(self.new)


def files_of(manifest: dict[str, list[str | int]]) -> list[OutputFile]:
    return [OutputFile(p, str(v[1]), int(v[2])) for p, v in sorted(manifest.items())]


def load_files(manifest: Path) -> list[OutputFile]:
    return files_of(_load(manifest))


def _load(manifest: Path) -> dict[str, list[str | int]]:
    try:
        data = orjson.loads(manifest.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _prune(root: Path, folder: Path) -> None:
    """Remove directories left empty, up to (not including) the root."""
    for _ in range(64):
        if folder == root or root not in folder.parents:
            return
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
