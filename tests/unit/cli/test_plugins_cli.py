"""``homeport plugins``: list (--json), off and on, install from a signed catalogue (a bad
signature and an unknown plugin refused in one line), remove."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.plugins import activate, manager, state
from homeport.testing.plugins import Publisher, build_wheel, entry_for

EXAMPLE = Path(__file__).parents[3] / "examples" / "homeport-recipes"
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "home"
    try:
        yield data
    finally:
        packages = str(state.packages_dir(data))
        if packages in sys.path:
            sys.path.remove(packages)
        for name in [m for m in sys.modules if m.startswith("homeport_recipes")]:
            del sys.modules[name]
        manager._active.pop(data, None)
        activate.reset()


def ok(home: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data", str(home)])
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(home: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data", str(home)])
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), result.stderr
    return lines[0]


def test_list_switch_install_remove(home: Path, tmp_path: Path) -> None:
    rows = json.loads(ok(home, "plugins", "list", "--json"))
    assert [r["name"] for r in rows if r["builtin"]] == sorted(
        n.rsplit(".", 1)[-1] for n in manager.BUILTINS)
    assert all(r["enabled"] for r in rows)

    assert json.loads(ok(home, "plugins", "disable", "changes", "--json")) == {
        "name": "changes", "enabled": False}
    rows = {r["name"]: r for r in json.loads(ok(home, "plugins", "list", "--json"))}
    assert rows["changes"]["enabled"] is False
    ok(home, "plugins", "enable", "changes")
    assert refused(home, "plugins", "disable", "nope") == (
        "homeport: there is no plugin named 'nope' (homeport plugins list)")

    folder = tmp_path / "catalogue"
    wheel = build_wheel(EXAMPLE, folder)
    publisher = Publisher.new()
    path = publisher.catalogue(folder, [entry_for(wheel, "homeport-recipes", "1.0.0")])
    line = refused(home, "plugins", "install", "homeport-recipes", "--catalogue", str(path),
                   "--publisher", Publisher.new().did)
    assert "signature does not match its publisher's key" in line
    line = refused(home, "plugins", "install", "other", "--catalogue", str(path),
                   "--publisher", publisher.did)
    assert "has no plugin named 'other'" in line
    line = refused(home, "plugins", "install", "x", "--catalogue", str(path),
                   "--publisher", "not-a-key")
    assert "is not a publisher key" in line

    done = json.loads(ok(home, "plugins", "install", "homeport-recipes", "--catalogue",
                         str(path), "--publisher", publisher.did, "--json"))
    assert done["version"] == "1.0.0" and done["paid"] is False
    rows = {r["name"]: r for r in json.loads(ok(home, "plugins", "list", "--json"))}
    assert rows["recipes"]["builtin"] is False and rows["recipes"]["version"] == "1.0.0"
    assert "register_content_types" in rows["recipes"]["hooks"]

    ok(home, "plugins", "remove", "homeport-recipes")
    assert state.read(home).installed == {}
