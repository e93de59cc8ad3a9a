"""Which plugins this home installed and which the owner turned off: ``<data>/plugins/``.

``state.json`` holds ``{"disabled": [names], "installed": {name: {version, sha256, wheel,
catalogue, publisher, licence}}}``; installed plugins' files are in ``site-packages/`` beside
it (``pip install --target``), which the manager puts on ``sys.path`` before it looks for
entry points. Both are this machine's environment, like the virtualenv: a restore on another
machine installs plugins again from their catalogue; licences, which are the owner's, are
records (``licences.py``) and come back with the data.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport import jsonio


def plugins_dir(data_dir: Path) -> Path:
    return data_dir / "plugins"


def packages_dir(data_dir: Path) -> Path:
    """Where ``homeport plugins install`` puts wheels' files."""
    return plugins_dir(data_dir) / "site-packages"


def use_packages(data_dir: Path) -> None:
    """Put this home's installed plugins on ``sys.path`` (once) so entry points find them."""
    folder = str(packages_dir(data_dir))
    if Path(folder).is_dir() and folder not in sys.path:
        sys.path.append(folder)


@dataclass
class State:
    disabled: list[str] = field(default_factory=list)
    installed: dict[str, dict[str, Any]] = field(default_factory=dict)


def _file(data_dir: Path) -> Path:
    return plugins_dir(data_dir) / "state.json"


def read(data_dir: Path) -> State:
    """The state; a missing file is the empty state, an unreadable one too (with nothing
    disabled, which is what a fresh home has) — it is rewritten whole on the next change."""
    try:
        raw = jsonio.loads(_file(data_dir).read_bytes())
    except (OSError, ValueError):
        return State()
    if not isinstance(raw, dict):
        return State()
    disabled = [str(n) for n in raw.get("disabled", []) if isinstance(n, str)]
    installed = {str(k): dict(v) for k, v in (raw.get("installed") or {}).items()
                 if isinstance(v, dict)}
    return State(sorted(set(disabled)), installed)


def write(data_dir: Path, state: State) -> None:
    """Replace the file atomically (a crash leaves the old state or the new, never half)."""
    path = _file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    body = {"disabled": sorted(set(state.disabled)), "installed": state.installed}
    with open(temporary, "wb") as out:
        out.write(jsonio.dumps(body))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def mark_changed(data_dir: Path) -> None:
    """Say that something the plugins depend on changed outside ``state.json`` (a licence
    record added), so a running home loads them again (``fingerprint``)."""
    path = plugins_dir(data_dir) / "changed"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(time.time_ns()), "utf-8")


def fingerprint(data_dir: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """What a running home compares to notice a change made by another process (``homeport
    plugins …`` while ``serve`` runs): ``state.json`` and the ``changed`` mark, by inode,
    size and modification time (``write`` replaces the file, so a new inode)."""
    found: list[tuple[int, int, int] | None] = []
    for path in (_file(data_dir), plugins_dir(data_dir) / "changed"):
        try:
            info = path.stat()
        except OSError:
            found.append(None)
            continue
        found.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


def set_enabled(data_dir: Path, name: str, enabled: bool) -> None:
    state = read(data_dir)
    names = set(state.disabled)
    if enabled:
        names.discard(name)
    else:
        names.add(name)
    state.disabled = sorted(names)
    write(data_dir, state)


__all__ = ["State", "fingerprint", "mark_changed", "packages_dir", "plugins_dir", "read",
           "set_enabled", "use_packages", "write"]
