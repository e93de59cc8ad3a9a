"""Servers limit glibc's malloc arenas to two (``web/arenas.py``), for themselves and, through
the environment, for the worker processes they start; an operator's own setting wins. Run in
a fresh interpreter each: the limit is process-wide."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import os; from homeport.web.arenas import limit_malloc_arenas; "
    "print(limit_malloc_arenas(), os.environ['MALLOC_ARENA_MAX'])"
)


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_server_takes_two_arenas_and_hands_them_to_its_workers() -> None:
    assert probe() == "True 2"


def test_the_operators_setting_wins() -> None:
    assert probe(MALLOC_ARENA_MAX="4") == "False 4"
