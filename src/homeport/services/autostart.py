"""Start the home when its owner logs in, without a terminal: a systemd user unit on Linux, a
launchd agent on macOS (Windows: docs/desktop.md). The same code serves ``homeport
install-service`` and the GUI's switch.

Also, on Linux, a desktop launcher (``homeport.desktop``) that runs ``homeport`` with no
command: it opens the GUI, starting the home first if it is not running.
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
        return self.system in ("linux", "darwin")

    @property
    def path(self) -> Path:
        if self.system == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{AGENT}.plist"
        return _config_home(self.home) / "systemd" / "user" / UNIT

    @property
    def launcher(self) -> Path:
        data = os.environ.get("XDG_DATA_HOME") or str(self.home / ".local" / "share")
        return Path(data) / "applications" / LAUNCHER

    def command(self, serve: bool = True) -> list[str]:
        base = [sys.executable, "-m", "homeport", "--data", str(self.data_dir)]
        return [*base, "serve"] if serve else base


def for_this_computer(data_dir: Path) -> Autostart:
    return Autostart(sys.platform, Path.home(), data_dir)


def _config_home(home: Path) -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")


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
        if start_now:
            _run(["launchctl", "load", "-w", str(spot.path)])
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
    else:
        _run(["systemctl", "--user", "disable", UNIT])
    spot.path.unlink(missing_ok=True)
    if spot.system != "darwin":
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
