"""The command line loads only the group of the command it runs: ``homeport publish`` used to
import the renderer, the plugins, the GUI's home app and the sync client's every user before it
did anything (most of a second of its start-up)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from homeport.cli.main import GROUPS, ROOT_COMMANDS, build_app, command_of

HEAVY = (
    "homeport.home",
    "homeport.render.build",
    "homeport.plugins.activate",
    "homeport.content.sites",
    "homeport.services.writes",
    "jsonschema",
    "rich.progress",
    "httpx._main",
)

PROBE = """
import json, sys
sys.argv = ["homeport", *sys.argv[1:]]
from homeport.cli.main import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if sys.modules[m] is not None)))
"""


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["publish", "--json"], "publish"),
        (["--data", "/tmp/x", "publish"], "publish"),
        (["--data=/tmp/x", "status"], "status"),
        (["--data", "publish", "log"], "log"),  # a data dir named like a command
        (["--help"], None),
        ([], None),
    ],
)
def test_the_command_is_found_after_the_root_options(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


def test_publish_imports_none_of_the_other_commands_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "publish", "--help"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    out = done.stdout.decode().strip().splitlines()
    assert "--no-snapshot" in done.stdout.decode()
    loaded = set(json.loads(out[-1]))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_every_command_is_in_the_full_app_once() -> None:
    import typer.main

    group = typer.main.get_command(build_app())
    names = list(group.commands)  # type: ignore[attr-defined]
    expected = list(ROOT_COMMANDS) + [n for names, _ in GROUPS for n in names]
    assert sorted(names) == sorted(expected)
    # building another app (a test after main()) adds no second "delegations" to providers
    again = typer.main.get_command(build_app("providers"))
    providers = again.commands["providers"]  # type: ignore[attr-defined]
    assert list(providers.commands).count("delegations") == 1
