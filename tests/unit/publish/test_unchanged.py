"""The digest a no-change publish compares (``publish/unchanged.py``): every input of the build
and the snapshot moves it, and a publish may skip its build only within a day of the last full
one, with every provider at its head and nothing to repair."""

from __future__ import annotations

import os
from pathlib import Path

from homeport.publish import unchanged
from homeport.settings import Settings

HEAD = "ab" * 32
TARGETS = [{"url": "http://127.0.0.1:9", "site": "https://alice.example.test/", "head": HEAD}]
STAMPS = {("record", "/buckets/site/collections/notes"): 10, ("bucket", ""): 5}


def digest(settings: Settings, stamps: dict[tuple[str, str], int] = STAMPS) -> str:
    env = unchanged.environment(settings, TARGETS, None)
    return unchanged.digest(settings, env, stamps)


def test_each_input_moves_the_digest(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = digest(settings)
    assert digest(settings) == first  # nothing moved

    assert digest(settings, {**STAMPS, ("record", "/buckets/site/collections/notes"): 11}) != first
    # a pair no snapshot looks at is not a change
    assert digest(settings, {**STAMPS, ("session", "x"): 1}) == first

    theme = tmp_path / "themes" / "mine" / "base.html"
    theme.parent.mkdir(parents=True)
    theme.write_text("<html>")
    second = digest(settings)
    assert second != first
    os.utime(theme, ns=(1, 1))  # the same size, another mtime: an edit
    assert digest(settings) != second

    third = digest(settings)
    manifest = tmp_path / "cache" / "build" / "site-0123.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    assert digest(settings) != third

    fourth = digest(settings)
    state = tmp_path / "plugins" / "state.json"  # a plugin turned off
    state.parent.mkdir()
    state.write_text('{"disabled": ["webmentions"]}')
    assert digest(settings) != fourth
    fourth = digest(settings)
    assert digest(Settings(data_dir=tmp_path, keep_commits=3)) != fourth
    ruled = [dict(TARGETS[0], rules={"exclude_tags": ["x"]})]
    env = unchanged.environment(settings, ruled, None)
    assert unchanged.digest(settings, env, STAMPS) != fourth


def test_a_publish_skips_only_when_every_condition_holds(tmp_path: Path) -> None:
    now = digest(Settings(data_dir=tmp_path))
    unchanged.remember(tmp_path, HEAD, now, True, at=1_000)
    last = unchanged.recorded(tmp_path)
    assert unchanged.unchanged(last, now, TARGETS, at=2_000)
    assert not unchanged.unchanged(last, "other", TARGETS, at=2_000)
    assert not unchanged.unchanged(last, now, TARGETS, at=1_000 + unchanged.FULL_EVERY_MS)
    assert not unchanged.unchanged(last, now, [dict(TARGETS[0], head="cd" * 32)], at=2_000)
    assert not unchanged.unchanged(last, now, [dict(TARGETS[0], repair=["ef" * 32])], at=2_000)
    assert not unchanged.unchanged({}, now, TARGETS, at=2_000)
    unchanged.forget(tmp_path)
    assert unchanged.recorded(tmp_path) == {}
