"""Start the home when its owner logs in, without a terminal: a systemd user unit on Linux, a
launchd agent on macOS, a script in the Startup folder on Windows (docs/desktop.md). The same
code serves ``homeport install-service`` and the GUI's switch.

Also a launcher that runs ``homeport`` with no command (it opens the GUI, starting the home
first if it is not running): ``homeport.desktop`` on Linux, ``~/Applications/Homeport.app`` on
macOS, ``Homeport.cmd`` in the Start menu on Windows.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT = "homeport.service"
AGENT = "org.homeport.home"
LAUNCHER = "homeport.desktop"
MAC_APP = "Homeport.app"
WINDOWS_SCRIPT = "Homeport.cmd"
RUN_TIMEOUT = 30.0


class AutostartError(Exception):
    """Starting at login could not be set up; the message says why and what to do."""


@dataclass(frozen=True)
class Autostart:
    system: str
    """``linux``, ``darwin`` or another ``sys.platform`` (then unsupported)."""
    home: Path
    data_dir: Path

    @property
    def supported(self) -> bool:
        return self.system in ("linux", "darwin", "win32")

    @property
    def path(self) -> Path:
        if self.system == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{AGENT}.plist"
        if self.system == "win32":
            return _start_menu(self.home) / "Startup" / WINDOWS_SCRIPT
        return _config_home(self.home) / "systemd" / "user" / UNIT

    @property
    def launcher(self) -> Path:
        if self.system == "darwin":
            return self.home / "Applications" / MAC_APP
        if self.system == "win32":
            return _start_menu(self.home) / WINDOWS_SCRIPT
        data = os.environ.get("XDG_DATA_HOME") or str(self.home / ".local" / "share")
        return Path(data) / "applications" / LAUNCHER

    def command(self, serve: bool = True, python: str | None = None) -> list[str]:
        base = [python or sys.executable, "-m", "homeport", "--data", str(self.data_dir)]
        return [*base, "serve"] if serve else base


def for_this_computer(data_dir: Path) -> Autostart:
    return Autostart(sys.platform, Path.home(), data_dir)


def _config_home(home: Path) -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")


def _start_menu(home: Path) -> Path:
    """The user's ``Start Menu\\Programs`` (``%APPDATA%``, else its usual place in ``home``)."""
    roaming = os.environ.get("APPDATA") or str(home / "AppData" / "Roaming")
    return Path(roaming) / "Microsoft" / "Windows" / "Start Menu" / "Programs"


def _windowless_python() -> str:
    """``pythonw.exe`` beside ``python.exe`` when there is one: no console window opens."""
    here = Path(sys.executable)
    quiet = here.with_name("pythonw.exe")
    return str(quiet) if here.name.lower() == "python.exe" and quiet.exists() else str(here)


def systemd_unit(spot: Autostart) -> str:
    return (
        "[Unit]\n"
        "Description=Homeport: your home on the web\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={shlex.join(spot.command())}\n"
        "Environment=HOMEPORT_OPEN_BROWSER=0\n"
        "Restart=on-failure\n"
        "RestartSec=10\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_agent(spot: Autostart) -> bytes:
    return plistlib.dumps({
        "Label": AGENT,
        "ProgramArguments": spot.command(),
        "EnvironmentVariables": {"HOMEPORT_OPEN_BROWSER": "0"},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardErrorPath": str(spot.data_dir / "homeport.log"),
    })


def desktop_entry(spot: Autostart) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Homeport\n"
        "Comment=Your home on the web\n"
        f"Exec={shlex.join(spot.command(serve=False))}\n"
        "Terminal=false\n"
        "Categories=Network;Office;\n"
    )


def mac_app(spot: Autostart) -> dict[str, bytes]:
    """A minimal application bundle (relative path → bytes): Finder, Launchpad and Spotlight
    show it as *Homeport*; opening it runs ``homeport`` with no command."""
    info = plistlib.dumps({
        "CFBundleName": "Homeport",
        "CFBundleDisplayName": "Homeport",
        "CFBundleIdentifier": "org.homeport.launcher",
        "CFBundleExecutable": "homeport",
        "CFBundlePackageType": "APPL",
        "CFBundleVersion": "1",
        "LSUIElement": True,  # no Dock icon of its own: the browser is the window
    })
    script = f"#!/bin/sh\nexec {shlex.join(spot.command(serve=False))}\n"
    return {"Contents/Info.plist": info, "Contents/MacOS/homeport": script.encode()}


def windows_script(spot: Autostart, serve: bool) -> str:
    """A ``.cmd`` for the Startup folder (``serve``, no browser) or the Start menu (the
    launcher). ``start`` lets the window close at once; ``%`` is doubled as cmd wants."""
    argv = spot.command(serve=serve, python=_windowless_python())
    quoted = " ".join(f'"{a}"' for a in argv).replace("%", "%%")
    quiet = "set HOMEPORT_OPEN_BROWSER=0\r\n" if serve else ""
    return f"@echo off\r\n{quiet}start \"Homeport\" {quoted}\r\n"


def _write_mac_app(spot: Autostart) -> None:
    for name, body in mac_app(spot).items():
        target = spot.launcher / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    (spot.launcher / "Contents" / "MacOS" / "homeport").chmod(0o755)


def installed(spot: Autostart) -> bool:
    return spot.supported and spot.path.is_file()


def install(spot: Autostart, start_now: bool = True) -> list[str]:
    """Write the unit (or agent) and the launcher; start it now too unless told not to (the
    GUI's switch: the home asking is already running); what was done."""
    if not spot.supported:
        raise AutostartError(
            "Starting at login is set up by hand on this system: see docs/desktop.md."
        )
    spot.path.parent.mkdir(parents=True, exist_ok=True)
    spot.data_dir.mkdir(parents=True, exist_ok=True)
    done = []
    if spot.system == "darwin":
        spot.path.write_bytes(launchd_agent(spot))  # loaded by launchd at every login
        _write_mac_app(spot)
        done.append(f"launcher: {spot.launcher}")
        if start_now:
            _run(["launchctl", "load", "-w", str(spot.path)])
    elif spot.system == "win32":
        spot.path.write_text(windows_script(spot, serve=True), newline="")
        spot.launcher.write_text(windows_script(spot, serve=False), newline="")
        done.append(f"launcher: {spot.launcher}")
        if start_now:
            _run(["cmd", "/c", str(spot.path)])
    else:
        spot.path.write_text(systemd_unit(spot))
        _run(["systemctl", "--user", "daemon-reload"])
        _run(["systemctl", "--user", "enable", *(["--now"] if start_now else []), UNIT])
        spot.launcher.parent.mkdir(parents=True, exist_ok=True)
        spot.launcher.write_text(desktop_entry(spot))
        done.append(f"launcher: {spot.launcher}")
    done.insert(0, f"starts at login: {spot.path}")
    return done


def remove(spot: Autostart) -> None:
    """Stop starting at login (the home keeps running until it is stopped or the next logout)."""
    if not installed(spot):
        return
    if spot.system == "darwin":
        with contextlib.suppress(AutostartError):  # not loaded in this login session
            _run(["launchctl", "unload", "-w", str(spot.path)])
    elif spot.system != "win32":
        _run(["systemctl", "--user", "disable", UNIT])
    spot.path.unlink(missing_ok=True)  # the launcher stays: it starts the home when clicked
    if spot.system == "linux":
        _run(["systemctl", "--user", "daemon-reload"])


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except FileNotFoundError:
        raise AutostartError(
            f"{argv[0]} is not on this computer, so Homeport cannot start at login this way: "
            "see docs/desktop.md."
        ) from None
    except subprocess.TimeoutExpired:
        raise AutostartError(f"{argv[0]} did not answer within {RUN_TIMEOUT:.0f} s.") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise AutostartError(f"{shlex.join(argv)} failed: {said[-1] if said else done.returncode}")
