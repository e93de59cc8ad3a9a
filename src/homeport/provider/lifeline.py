"""Workers die with their parent.

``provider serve --workers N`` runs uvicorn's supervisor, which starts each worker with
multiprocessing's *spawn*; a worker that outlives a killed supervisor (SIGKILL, the OOM killer)
keeps the listening socket and serves on, unsupervised, and a restarted provider cannot bind its
port. uvicorn does not guard against that: its health-check pipe has both ends in the worker, so
the worker never sees the parent go. Each worker therefore arms ``PR_SET_PDEATHSIG`` (Linux) and
also watches its parent pid (everywhere, and for the instant before the signal was armed).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5
GRACE_SECONDS = 10.0
"""After SIGTERM (uvicorn's graceful stop: in-flight requests finish), how long until SIGKILL."""


def _arm_pdeathsig() -> None:
    """Ask the kernel for SIGTERM when the parent exits (Linux only; silently skipped else)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` (the pid that started it) is gone."""
    _arm_pdeathsig()
    threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()
