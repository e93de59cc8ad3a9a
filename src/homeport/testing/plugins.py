"""Plugin authors' and our tests' tools: a wheel built from a plugin's folder without any
network or build backend, and a catalogue signed with a fresh publisher key.

``build_wheel`` handles what a plugin needs (a ``src/<package>`` layout, ``[project]`` name,
version, dependencies and ``homeport`` entry points in ``pyproject.toml``); real releases are
built with ``pip wheel`` or ``python -m build``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport import jsonio
from homeport.crypto.keys import did_key
from homeport.plugins.signed import signed


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"sha256={digest}"


def build_wheel(project: Path, out_dir: Path) -> Path:
    """A pure-Python wheel of ``project`` (its ``src/`` packages) in ``out_dir``."""
    meta = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))["project"]
    name, version = str(meta["name"]), str(meta["version"])
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((project / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(project / "src").as_posix()] = path.read_bytes()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {d}" for d in meta.get("dependencies", [])]
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: homeport.testing\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    points = meta.get("entry-points", {})
    lines = []
    for group, entries in points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
    files[f"{info}/entry_points.txt"] = ("\n".join(lines) + "\n").encode()
    record = [f"{n},{_record_hash(d)},{len(d)}" for n, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
    return wheel


@dataclass
class Publisher:
    """A plugin publisher: a key, and the catalogues and licences it signs."""

    key: Ed25519PrivateKey

    @classmethod
    def new(cls) -> Publisher:
        return cls(Ed25519PrivateKey.generate())

    @property
    def did(self) -> str:
        return did_key(self.key.public_key())

    def catalogue(self, folder: Path, entries: list[dict[str, Any]],
                  name: str = "Test catalogue") -> Path:
        """``folder/catalogue.json``, signed; entries as the catalogue format has them."""
        folder.mkdir(parents=True, exist_ok=True)
        body = {"name": name, "publisher": self.did, "plugins": entries}
        path = folder / "catalogue.json"
        path.write_bytes(jsonio.dumps(signed("catalogue", body, self.key)))
        return path

    def licence(self, plugin: str, site: str, tier: str = "standard",
                expires: str | None = None) -> bytes:
        body: dict[str, Any] = {"plugin": plugin, "site": site, "tier": tier}
        if expires is not None:
            body["expires"] = expires
        return jsonio.dumps(signed("licence", body, self.key))


def entry_for(wheel: Path, name: str, version: str, **extra: Any) -> dict[str, Any]:
    """A catalogue entry for ``wheel`` (placed beside the catalogue: relative URL)."""
    return {"name": name, "version": version, "wheel": wheel.name,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(), **extra}


__all__ = ["Publisher", "build_wheel", "entry_for"]
