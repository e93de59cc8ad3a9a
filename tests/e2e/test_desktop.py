"""No terminal after install: ``homeport`` with no command starts the home and opens the browser
at first run (a second start opens the running one), and ``homeport install-service`` makes it
start at login. The browser, ``systemctl`` and ``launchctl`` are small scripts on ``PATH`` that
write down how they were called, so the real commands run and nothing on the machine changes."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.services import autostart
from homeport.testing.live import free_port, stop_process, wait_ready

from .conftest import FAST_ENV

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""


def _recorder(folder: Path, name: str, log: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(RECORDER.format(log=log))
    script.chmod(0o755)
    return script


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**clean, **FAST_ENV, "HOMEPORT_LOG_LEVEL": "warning", **extra}


def _wait_for_lines(log: Path, count: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return log.read_text().splitlines() if log.exists() else []


def test_homeport_alone_starts_the_home_and_opens_the_browser(tmp_path: Path) -> None:
    opened = tmp_path / "opened.log"
    browser = _recorder(tmp_path / "bin", "browser", opened)
    port = free_port()
    env = _env(
        tmp_path,
        HOMEPORT_DATA=str(tmp_path / "home"),
        HOMEPORT_PORT=str(port),
        BROWSER=f"{browser} %s",
    )
    log = tmp_path / "home.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "homeport"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/__heartbeat__", [first], log)
        assert _wait_for_lines(opened, 1) == [f"browser http://127.0.0.1:{port}/admin/"]
        # a second start (the launcher clicked again) opens the running home, and exits
        again = subprocess.run(
            [sys.executable, "-m", "homeport"], env=env, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert _wait_for_lines(opened, 2)[1] == f"browser http://127.0.0.1:{port}/admin/"
    finally:
        stop_process(first)
    assert "password:" not in log.read_text()  # the wizard chooses the one password


def test_no_browser_when_told_not_to(tmp_path: Path) -> None:
    opened = tmp_path / "opened.log"
    browser = _recorder(tmp_path / "bin", "browser", opened)
    port = free_port()
    env = _env(
        tmp_path,
        HOMEPORT_DATA=str(tmp_path / "home"),
        HOMEPORT_PORT=str(port),
        BROWSER=f"{browser} %s",
        HOMEPORT_OPEN_BROWSER="0",
    )
    log = tmp_path / "home.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/__heartbeat__", [proc], log)
        assert _wait_for_lines(opened, 1, timeout=2.0) == []
    finally:
        stop_process(proc)


@pytest.fixture
def desktop(tmp_path: Path) -> dict[str, str]:
    """A pretend login session: its own home, config dirs and recording systemctl/launchctl."""
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    for name in ("systemctl", "launchctl"):
        _recorder(bin_dir, name, calls)
    return _env(
        tmp_path,
        HOME=str(tmp_path / "user"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "share"),
        HOMEPORT_PORT=str(free_port()),
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        CALLS=str(calls),
    )


def test_install_service_writes_a_user_unit_and_a_launcher(
    tmp_path: Path, desktop: dict[str, str]
) -> None:
    if sys.platform != "linux":
        pytest.skip("the systemd user unit is Linux's")
    data = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "install-service", "--data", str(data)],
        env=desktop,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "config" / "systemd" / "user" / "homeport.service"
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -m homeport --data {data} serve" in text
    assert "WantedBy=default.target" in text and "HOMEPORT_OPEN_BROWSER=0" in text
    launcher = (tmp_path / "share" / "applications" / "homeport.desktop").read_text()
    assert f"Exec={sys.executable} -m homeport --data {data}\n" in launcher
    calls = Path(desktop["CALLS"]).read_text().splitlines()
    assert calls == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now homeport.service",
    ]
    removed = subprocess.run(
        [sys.executable, "-m", "homeport", "install-service", "--remove", "--data", str(data)],
        env=desktop,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists()
    assert "systemctl --user disable homeport.service" in Path(desktop["CALLS"]).read_text()


def test_a_launchd_agent_on_macos(
    tmp_path: Path, desktop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", desktop["PATH"])
    spot = autostart.Autostart("darwin", tmp_path / "user", tmp_path / "home")
    autostart.install(spot)
    agent = plistlib.loads(spot.path.read_bytes())
    assert spot.path == tmp_path / "user/Library/LaunchAgents/org.homeport.home.plist"
    assert agent["ProgramArguments"][-3:] == ["--data", str(tmp_path / "home"), "serve"]
    assert agent["RunAtLoad"] is True
    assert Path(desktop["CALLS"]).read_text().splitlines() == [f"launchctl load -w {spot.path}"]
    app = tmp_path / "user/Applications/Homeport.app/Contents"
    info = plistlib.loads((app / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "homeport" and info["CFBundlePackageType"] == "APPL"
    script = app / "MacOS" / "homeport"
    assert script.stat().st_mode & 0o111  # executable, as a bundle's program must be
    assert script.read_text().splitlines()[-1] == (
        f"exec {sys.executable} -m homeport --data {tmp_path / 'home'}")
    # the launcher is the bundle's shell script: run here, it is `homeport` with no command
    ran = subprocess.run(["sh", "-n", str(script)], capture_output=True, timeout=30)
    assert ran.returncode == 0, ran.stderr


def test_a_startup_script_and_a_start_menu_launcher_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming 100%"))
    data = tmp_path / "home 100%"
    spot = autostart.Autostart("win32", tmp_path, data)
    done = autostart.install(spot, start_now=False)
    programs = tmp_path / "Roaming 100%/Microsoft/Windows/Start Menu/Programs"
    assert spot.path == programs / "Startup" / "Homeport.cmd" and autostart.installed(spot)
    startup = spot.path.read_bytes().decode()
    assert startup.startswith("@echo off\r\nset HOMEPORT_OPEN_BROWSER=0\r\n")
    assert f'"--data" "{data}" "serve"'.replace("%", "%%") in startup  # cmd reads %% as %
    launcher = (programs / "Homeport.cmd").read_bytes().decode()
    assert "HOMEPORT_OPEN_BROWSER" not in launcher and '"serve"' not in launcher
    assert launcher.endswith(f'"--data" "{str(data).replace("%", "%%")}"\r\n')
    assert done == [f"starts at login: {spot.path}", f"launcher: {programs / 'Homeport.cmd'}"]
    autostart.remove(spot)
    assert not spot.path.exists() and (programs / "Homeport.cmd").exists()


def test_an_unsupported_system_or_a_missing_systemctl_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(autostart.AutostartError, match=r"docs/desktop\.md"):
        autostart.install(autostart.Autostart("sunos5", tmp_path, tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(autostart.AutostartError, match="systemctl is not on this computer"):
        autostart.install(autostart.Autostart("linux", tmp_path, tmp_path / "home"))
