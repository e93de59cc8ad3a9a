"""A few ``kill -9`` from the scripted kill harness (``homeport.testing.kills``; the hundreds,
SeaweedFS's among them, run in ``bench/kills.py``): the home during publish and during the
repack of its garbage collection; after each, ``verify`` is clean and nothing acknowledged is
lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.testing import kills


@pytest.mark.timeout(600)  # a provider and ~15 CLI runs: 27 s at load 6, minutes at load 40
def test_a_few_kills_lose_nothing(tmp_path: Path) -> None:
    scenarios = {"publish-home": 1, "repack-home": 1}
    tally = kills.run(tmp_path, kills=2, seed=7, scenarios=scenarios, chain=1)
    assert tally.failures == []
    assert tally.total >= 2
    assert tally.rounds["repack-home"] >= 1, tally
    assert tally.rounds["publish-home"] >= 1, tally
