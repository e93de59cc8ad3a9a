"""Writing a build's output: atomic, only when the bytes changed, with a manifest.

The manifest (kept in the data dir, not in the served folder) maps each output path to the
fingerprint of its inputs and the SHA-256 of its bytes. A page whose fingerprint is unchanged
and whose file is still there is skipped without rendering; a page re-rendered to the same bytes
is not rewritten; a path no longer planned is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutputFile:
    path: str
    """Relative to the output directory, with ``/`` separators."""
    sha256: str
    size: int


class Output:
    def __init__(self, root: Path, manifest: Path) -> None:
        self.root = root
        self.manifest_path = manifest
        self.old: dict[str, list[str | int]] = _load(manifest)
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
        target = self.root / path
        try:
            if target.stat().st_size != known[2]:
                return False
        except OSError:
            return False
        self.new[path] = known
        self.skipped += 1
        return True

    def put(self, path: str, fingerprint: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        self.new[path] = [fingerprint, digest, len(data)]
        target = self.root / path
        known = self.old.get(path)
        if known is not None and known[1] == digest and _size(target) == len(data):
            return
        if known is None and _size(target) == len(data) and target.read_bytes() == data:
            return
        self.pending.append((_stage(target, data), target))
        self.written.append(path)

    def abort(self) -> None:
        """Drop the staged files: the folder stays as the previous build left it."""
        for temporary, target in self.pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            _prune(self.root, target.parent)
        self.pending.clear()

    def finish(self) -> list[str]:
        """Move the staged files into place, remove what is no longer planned and save the
        manifest; returns the removed paths."""
        for temporary, target in self.pending:
            os.replace(temporary, target)
        self.pending.clear()
        removed = sorted(set(self.old) - set(self.new))
        for path in removed:
            with contextlib.suppress(FileNotFoundError):
                (self.root / path).unlink()
            _prune(self.root, (self.root / path).parent)
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.manifest_path, json.dumps(self.new, sort_keys=True).encode())
        return removed

    def files(self) -> list[OutputFile]:
        return [OutputFile(p, str(v[1]), int(v[2])) for p, v in sorted(self.new.items())]


def load_files(manifest: Path) -> list[OutputFile]:
    return [OutputFile(p, str(v[1]), int(v[2])) for p, v in sorted(_load(manifest).items())]


def _load(manifest: Path) -> dict[str, list[str | int]]:
    try:
        data = json.loads(manifest.read_bytes())
    except (OSError, ValueError):
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


def _stage(path: Path, data: bytes) -> str:
    """Write ``data`` to a temporary file beside ``path``; returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
