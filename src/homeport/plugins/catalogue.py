"""Installing plugins from a signed catalogue (``docs/plugins.md``, "Catalogues").

A catalogue is a static JSON document ``{"catalogue": {name, publisher, plugins: [...]},
"signature": …}`` (``signed.py``). Each entry names a wheel by URL (relative to the catalogue)
and its SHA-256. The home checks the signature against the key the owner gave, then the
wheel's hash, and only then installs the wheel, without dependencies and without asking any
package index, into its own plugins folder (``state.packages_dir``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from homeport.crypto.keys import public_key_from_did
from homeport.plugins import state
from homeport.plugins.signed import SignedError, open_signed
from homeport.settings import Settings

MAX_CATALOGUE_BYTES = 2 * 1024 * 1024
MAX_WHEEL_BYTES = 64 * 1024 * 1024
NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
WHEEL_FILE = re.compile(r"^[A-Za-z0-9_.+-]+\.whl$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TOUCHES = frozenset({"routes", "admin-pages", "content-types", "themes", "template-filters",
                     "importers", "exporters", "connectors", "settings", "after-publish",
                     "network", "files"})
"""What a catalogue may say a plugin touches (shown before installing)."""


class CatalogueError(ValueError):
    """A catalogue, wheel or install that cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Entry:
    name: str
    """The plugin's distribution name (``homeport-recipes``)."""
    version: str
    wheel: str
    """Absolute URL (or path) of the wheel."""
    sha256: str
    touches: tuple[str, ...]
    price: str
    """Empty for a free plugin; else what it costs, as the publisher writes it."""
    licence_terms: str
    description: str

    @property
    def paid(self) -> bool:
        return bool(self.price)


@dataclass(frozen=True)
class Catalogue:
    url: str
    title: str
    publisher: str
    entries: tuple[Entry, ...]

    def entry(self, name: str) -> Entry:
        for found in self.entries:
            if normalise(found.name) == normalise(name):
                return found
        raise CatalogueError(f"the catalogue at {self.url} has no plugin named {name!r}")


def normalise(name: str) -> str:
    """Distribution names compare as Python packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def check_publisher(publisher: str) -> str:
    try:
        public_key_from_did(publisher)
    except ValueError:
        raise CatalogueError(f"{publisher!r} is not a publisher key (an Ed25519 did:key, "
                             "did:key:z6Mk…)") from None
    return publisher


async def read(settings: Settings, url: str, limit: int) -> bytes:
    """The bytes at ``url``: a local path or ``file:`` URL, else an http(s) fetch that keeps
    off private addresses unless ``fetch_allow_private``."""
    scheme = urlsplit(url).scheme
    if scheme in ("", "file"):
        path = Path(unquote(urlsplit(url).path) if scheme == "file" else url)
        try:
            if path.stat().st_size > limit:
                raise CatalogueError(f"{url} is bigger than {limit} bytes")
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise CatalogueError(f"cannot read {url}: {exc.strerror or exc}") from None
    if scheme not in ("http", "https"):
        raise CatalogueError(f"{url}: only http, https and local files are read")
    from homeport.web import outbound  # httpx: imported when a catalogue is fetched
    try:
        fetched = await outbound.fetch(url, permitted=outbound.policy(
            settings.fetch_allow_private), limit=limit, timeout=30.0)
    except (outbound.FetchRefused, OSError) as exc:
        raise CatalogueError(f"cannot fetch {url}: {exc}") from None
    except Exception as exc:  # httpx's errors: timeouts, refused connections, bad TLS
        raise CatalogueError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    if fetched.status != 200:
        raise CatalogueError(f"{url} answered {fetched.status}")
    return fetched.body


def _text(entry: dict[str, Any], key: str, limit: int = 2000) -> str:
    value = entry.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or len(str(value)) > limit:
        raise CatalogueError(f"catalogue entry {entry.get('name')!r}: {key!r} is not a short "
                             "text")
    return str(value)


def _entry(raw: Any, base: str) -> Entry:
    if not isinstance(raw, dict):
        raise CatalogueError("a catalogue entry is not an object")
    name, version = _text(raw, "name", 100), _text(raw, "version", 64)
    if not NAME.match(name) or not version:
        raise CatalogueError(f"catalogue entry {name!r}: a name and a version are required")
    sha = _text(raw, "sha256", 64).lower()
    if not SHA256.match(sha):
        raise CatalogueError(f"catalogue entry {name!r}: sha256 must be 64 hex digits")
    wheel = _text(raw, "wheel")
    if not WHEEL_FILE.match(Path(urlsplit(wheel).path).name):
        raise CatalogueError(f"catalogue entry {name!r}: wheel must name a .whl file")
    touches = raw.get("touches", [])
    if not isinstance(touches, list) or not all(t in TOUCHES for t in touches):
        raise CatalogueError(f"catalogue entry {name!r}: touches must list some of "
                             f"{', '.join(sorted(TOUCHES))}")
    price = raw.get("price")
    return Entry(name, version, urljoin(base, wheel), sha, tuple(touches),
                 "" if price in (None, "", 0, "0") else _text(raw, "price", 100),
                 _text(raw, "licence"), _text(raw, "description"))


def parse(raw: bytes, url: str, publisher: str) -> Catalogue:
    """The catalogue at ``url`` if ``publisher`` signed it, else CatalogueError."""
    try:
        body = open_signed("catalogue", raw, check_publisher(publisher))
    except SignedError as exc:
        raise CatalogueError(str(exc)) from None
    if body.get("publisher") not in (None, publisher):
        raise CatalogueError("the catalogue names another publisher than the key that signed it")
    plugins = body.get("plugins")
    if not isinstance(plugins, list) or len(plugins) > 10_000:
        raise CatalogueError("the catalogue's plugins must be a list")
    base = url if urlsplit(url).scheme else Path(url).resolve().as_uri()
    return Catalogue(url, _text(body, "name", 200), publisher,
                     tuple(_entry(p, base) for p in plugins))


async def fetch(settings: Settings, url: str, publisher: str) -> Catalogue:
    return parse(await read(settings, url, MAX_CATALOGUE_BYTES), url, publisher)


async def install(settings: Settings, url: str, publisher: str, name: str) -> Entry:
    """Install plugin ``name`` from the catalogue at ``url`` signed by ``publisher``: verify,
    download, check the hash, ``pip install --no-deps --no-index --target``. Remembered in
    ``state.json`` (which catalogue, which key, whether it needs a licence)."""
    entry = (await fetch(settings, url, publisher)).entry(name)
    wheel = await read(settings, entry.wheel, MAX_WHEEL_BYTES)
    digest = hashlib.sha256(wheel).hexdigest()
    if digest != entry.sha256:
        raise CatalogueError(f"the wheel of {entry.name} {entry.version} does not match the "
                             f"catalogue's SHA-256 (expected {entry.sha256}, got {digest}): "
                             "not installed")
    # pip runs for seconds: in a thread, so the home's loop keeps answering meanwhile
    await asyncio.to_thread(_pip_install, settings.data_dir, Path(urlsplit(entry.wheel).path).name,
                            wheel)
    current = state.read(settings.data_dir)
    current.installed[normalise(entry.name)] = {
        "name": entry.name, "version": entry.version, "sha256": entry.sha256,
        "catalogue": url, "publisher": publisher, "paid": entry.paid,
        "touches": list(entry.touches),
    }
    state.write(settings.data_dir, current)
    return entry


def _pip_install(data_dir: Path, filename: str, wheel: bytes) -> None:
    target = state.packages_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="homeport-wheel-") as folder:
        path = Path(folder) / filename
        path.write_bytes(wheel)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
             "--disable-pip-version-check", "--upgrade", "--target", str(target), str(path)],
            capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise CatalogueError(f"installing {filename} failed: {last}")


def remove(data_dir: Path, name: str) -> None:
    """Delete an installed plugin's files (its wheel's RECORD) and forget it."""
    current = state.read(data_dir)
    key = normalise(name)
    if key not in current.installed:
        raise CatalogueError(f"{name!r} was not installed from a catalogue "
                             f"(installed: {', '.join(sorted(current.installed)) or 'none'})")
    target = state.packages_dir(data_dir)
    for info in target.glob("*.dist-info"):  # <name>-<version>.dist-info
        if normalise(info.name.removesuffix(".dist-info").rsplit("-", 1)[0]) == key:
            _remove_record(target, info)
    del current.installed[key]
    state.write(data_dir, current)


def _remove_record(target: Path, info: Path) -> None:
    record = info / "RECORD"
    root = target.resolve()
    if record.is_file():
        for line in record.read_text("utf-8").splitlines():
            relative = line.split(",", 1)[0]
            path = (target / relative).resolve()
            if path.is_relative_to(root) and path.is_file():  # never outside the folder
                path.unlink()
    shutil.rmtree(info, ignore_errors=True)
    for folder in sorted(target.rglob("*"), reverse=True):  # empty packages left behind
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


__all__ = ["Catalogue", "CatalogueError", "Entry", "fetch", "install", "normalise", "parse",
           "remove"]
