"""The Settings page's switch for starting at login: the same unit ``homeport install-service``
writes, enabled for the next login (this home is already running), and off again. ``systemctl``
is a script on ``PATH`` that writes down how it was called."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.skipif(sys.platform != "linux", reason="the systemd user unit is Linux's")
def test_the_switch_turns_starting_at_login_on_and_off(
    client: Any, gui: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> "{calls}"\n')
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    unit = tmp_path / "config" / "systemd" / "user" / "homeport.service"
    gui.wizard(client)
    page = client.get("/admin/settings")
    assert "Start Homeport when I log in" in page.text
    on = client.post("/admin/settings/start-at-login", data={"csrf": gui.csrf_of(page.text),
                                                             "on": "1"})
    assert on.status_code == 200 and "starts by itself when you log in" in on.text
    assert unit.is_file()
    assert calls.read_text().splitlines()[-1] == "systemctl --user enable homeport.service"
    off = client.post("/admin/settings/start-at-login", data={"csrf": gui.csrf_of(on.text),
                                                              "on": "0"})
    assert off.status_code == 200 and "Start Homeport when I log in" in off.text
    assert not unit.exists()
    refused = client.post("/admin/settings/start-at-login", data={"on": "1"})
    assert refused.status_code == 403 and not unit.exists()
