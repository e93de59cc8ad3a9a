"""``homeport`` with no command, as a person starts it from a launcher: open the GUI in the
browser once the home answers (at first run, or when it was already running)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import webbrowser

from homeport.settings import Settings

READY_TIMEOUT = 20.0
POLL = 0.1


def _heartbeat(settings: Settings) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}/v1/__heartbeat__"


def already_serving(settings: Settings, timeout: float = 2.0) -> bool:
    """Whether a Homeport home answers on the configured port (so this start is a second one)."""
    try:
        with urllib.request.urlopen(_heartbeat(settings), timeout=timeout) as answer:
            return int(answer.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def open_when_ready(settings: Settings, url: str) -> threading.Thread:
    """Open ``url`` in the default browser as soon as the home answers (at most 20 s)."""

    def wait_then_open() -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if already_serving(settings, timeout=1.0):
                webbrowser.open(url)
                return
            time.sleep(POLL)

    thread = threading.Thread(target=wait_then_open, name="open-browser", daemon=True)
    thread.start()
    return thread
