"""A handful of ``kill -9`` from the scripted kill harness (``homeport.testing.kills``; the
hundreds run in ``bench/kills.py``): the home during publish and garbage collection, the
provider node during publish, the home during a restore; after each, ``verify`` is clean and
nothing acknowledged is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.testing import kills


@pytest.mark.timeout(600)  # a provider, ~30 CLI runs and a restore: 140-250 s at load 12
def test_a_few_kills_lose_nothing(tmp_path: Path) -> None:
    tally = kills.run(tmp_path, kills=3, seed=7, restores=1)
    assert tally.failures == []
    assert tally.total >= 3
    assert tally.rounds["restore"] == 1
