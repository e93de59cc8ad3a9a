"""Whether anything a publish would build or snapshot changed since the last full publish.

A publish with nothing new still paid for loading the plugins, running the before-snapshot
callbacks, planning every page of the site for each provider and walking the store for a
snapshot that came out empty. Instead, each full publish that made its snapshot's head live at
every provider it published to leaves ``publish-inputs.json`` in the data dir: the head and a
digest of what the build and the snapshot read. The next publish computes the same digest
(stats and one read of the store's timestamps, no rendering) and, when it matches and every
provider it publishes to is recorded at that head, goes straight to the push, which still asks
each provider for its head and repairs what it lacks.

What the digest covers: the store's timestamps as a snapshot sees them (every record, bucket,
collection, group and account change moves one), the providers published to (address, site,
rules), the site asked for, the settings, Homeport's version, the installed packages (each
``site-packages`` folder's mtime moves when a package is installed, upgraded or removed), the home's
plugins (``plugins/``), its own themes and the built-in ones, and the build manifests and
``sites/`` folders (a ``homeport build`` run since). What it does not cover is time, so a
publish a day after the last full one is a full one again (handles typed in entries looked up
again, signing delegations renewed). The grants still go to every provider at each publish
(they answer with the tokens they issued under them).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from homeport import __version__, jsonio
from homeport.settings import Settings

STATE_FILE = "publish-inputs.json"
RESOURCES = frozenset({"bucket", "collection", "group", "record", "account"})
"""The store timestamps a snapshot looks at (``repo/snapshot.py``'s ``PLURAL``)."""
PACKAGES = re.compile(r"[/\\](site|dist)-packages$")
"""The ``sys.path`` folders packages are installed in (not the script's or the current one,
which differ between ``homeport`` and ``python -m homeport``)."""
THEMES = Path(__file__).resolve().parent.parent / "render" / "themes"

FULL_EVERY_MS = 24 * 3600 * 1000
"""A publish at least this long after the last full one does the full work whatever the
digest says: the before-snapshot callbacks look handles up again and renew delegations."""

Timestamps = Mapping[tuple[str, str], int]


def _walk(root: Path) -> list[tuple[str, int, int, int]]:
    """(path, size, mtime, inode) of every file under ``root``: a file rewritten in place or
    replaced changes one of them."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append((os.path.relpath(path, root), st.st_size, st.st_mtime_ns, st.st_ino))
    return found


def _mtimes(paths: Iterable[str | Path]) -> list[tuple[str, int]]:
    out = []
    for p in paths:
        try:
            out.append((str(p), os.stat(p).st_mtime_ns))
        except OSError:
            continue
    return out


def environment(settings: Settings, targets: list[dict[str, Any]], site: str | None) -> Any:
    """What a publish's build reads besides the store and the build's own output: taken
    before the build, so an edit made while it runs is a change the next publish sees."""
    data = settings.data_dir
    return {
        "version": __version__,
        "providers": [
            [e.get("url"), e.get("site"), e.get("rules"), e.get("mirror")] for e in targets
        ],
        "site": site,
        "settings": repr(settings),
        "plugin_settings": sorted((str(k), repr(v)) for k, v in settings.plugins.items()),
        "packages": _mtimes(p for p in sys.path if PACKAGES.search(p)),
        # the state (installed, turned off) and the folder pip writes them to, not every file
        "plugins": _mtimes([data / "plugins" / "state.json", data / "plugins" / "site-packages"]),
        "themes": _walk(data / "themes"),
        "builtin_themes": _walk(THEMES),
        "toml": _mtimes([data / "homeport.toml"]),
    }


def digest(settings: Settings, environ: Any, timestamps: Timestamps) -> str:
    """The digest of everything a publish's build and snapshot read (see the module's note):
    ``environ`` from ``environment``, the store's ``timestamps`` (or the cursor a snapshot
    covered), and the build manifests and ``sites/`` folders as they are now."""
    data = settings.data_dir
    sites = data / "sites"
    parts = {
        "environment": environ,
        "store": sorted([r, p, t] for (r, p), t in timestamps.items() if r in RESOURCES),
        "manifests": _walk(data / "cache" / "build"),
        "sites": _mtimes([sites, *sorted(sites.iterdir())] if sites.is_dir() else []),
    }
    return hashlib.sha256(jsonio.dumps(parts)).hexdigest()


def recorded(data_dir: Path) -> dict[str, Any]:
    """``{"head", "digest", "grants", "at"}`` the last full publish left, or ``{}``."""
    try:
        doc = jsonio.loads((data_dir / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def unchanged(last: dict[str, Any], now: str, targets: list[dict[str, Any]], at: int) -> bool:
    """Whether a publish at ``at`` (ms) may skip its build and snapshot: ``now`` (a
    ``digest``) is the ``last`` full publish's, that publish is less than ``FULL_EVERY`` old,
    and every target is recorded live at its head with nothing to repair."""
    head = last.get("head")
    return (
        bool(head)
        and last.get("digest") == now
        and 0 <= at - int(last.get("at") or 0) < FULL_EVERY_MS
        and all(e.get("head") == head and not e.get("repair") for e in targets)
    )


def remember(data_dir: Path, head: str, now: str, grants: bool, at: int) -> None:
    """Record a full publish (``grants``: every provider took the grants too)."""
    path = data_dir / STATE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    doc = {"head": head, "digest": now, "grants": grants, "at": at}
    tmp.write_bytes(jsonio.dumps(doc) + b"\n")
    os.replace(tmp, path)


def forget(data_dir: Path) -> None:
    """The next publish builds and snapshots whatever the digest says."""
    (data_dir / STATE_FILE).unlink(missing_ok=True)
