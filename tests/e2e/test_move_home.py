"""Moving a home between copies through the root-signed handoff, over loopback with the real
CLI and a real provider process: a home at a provider moves to a device with
``restore --from`` (the device becomes the primary, the old copy a standby that refuses
writes and says where the home lives), a wrong phrase changes nothing, and the home moves back
with every entry (export equality)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.crypto.keys import new_phrase

from .conftest import BACKENDS
from .provider_support import Provider
from .repo_support import cli, cli_env, init, ok


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    started = Provider(tmp_path / "provider", tmp_path / "provider.log", args=("--workers", "1"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


def export(data: Path, target: Path, env: dict[str, str] | None = None) -> bytes:
    ok("export", str(target), data=data, env=env)
    return target.read_bytes()


@pytest.mark.timeout(300)  # about 15 runs of the CLI, each a new Python process
def test_a_home_moves_to_a_device_and_back(tmp_path: Path, provider: Provider) -> None:
    hosted, device = tmp_path / "hosted", tmp_path / "device"
    phrase = init(hosted)["phrase"]
    ok("add", "note", "Written at the first copy", data=hosted)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=hosted)
    ok("publish", data=hosted)
    # the first publish's hooks wrote the site's ActivityPub signing delegation (a private
    # record); publish it too, so the old copy has nothing unpublished when the move comes.
    # (a copy that snapshots after the move but before it learns of it: the next test)
    ok("publish", data=hosted)

    # a wrong phrase (another identity's) changes nothing: the first copy stays the primary
    wrong = cli("restore", "--from", provider.url, data=device, stdin=new_phrase())
    assert wrong.code != 0
    assert not (device / "identity.json").exists()

    # move home: the device restores everything and becomes the primary
    ok("restore", "--from", provider.url, data=device, stdin=phrase)
    assert json.loads((device / "handoff.json").read_text())["epoch"] == 1
    lost = cli("publish", data=hosted)
    assert lost.code != 0 and "standby" in lost.err and "moved from" in lost.err
    refused = cli("add", "note", "Written on the standby", data=hosted)
    assert refused.code != 0 and "standby" in refused.err
    ok("add", "note", "Written on the device", data=device)
    ok("publish", data=device)
    assert "Written on the device" in provider.page("alice").text

    # and back (the device is lost, say): the old copy catches up with every entry (the two
    # export the same bytes) and is the primary again
    ok("restore", "--from", provider.url, data=hosted, stdin=phrase)
    assert json.loads((hosted / "handoff.json").read_text())["epoch"] == 2
    assert export(hosted, tmp_path / "c.bundle") == export(device, tmp_path / "d.bundle")
    assert cli("publish", data=device).code != 0
    ok("add", "note", "Back at the first copy", data=hosted)
    ok("publish", data=hosted)
    assert "Back at the first copy" in provider.page("alice").text


@pytest.mark.timeout(300)
def test_a_home_mirrors_a_providers_tenant_and_its_owner_restores_from_the_copy(
    tmp_path: Path, provider: Provider
) -> None:
    home, friend, back = tmp_path / "home", tmp_path / "friend", tmp_path / "back"
    phrase = init(home)["phrase"]
    ok("add", "note", "Kept by a friend too", data=home)
    ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    ok("publish", data=home)
    ok("providers", "mirror", provider.url, data=home)
    token = json.loads(ok("provider", "mirror-token", "--json", data=provider.data))["token"]

    copied = json.loads(
        ok("provider", "mirror", provider.url, "--token", token, "--json", data=friend)
    )
    assert [(t["name"], t["fetched"]) for t in copied["tenants"]] == [("alice", True)]
    bundle = Path(copied["into"]) / "alice.bundle"
    refused = cli("provider", "mirror", provider.url, "--token", "hpm_wrong", data=friend)
    assert refused.code != 0 and "token" in refused.err

    # the provider is gone: the owner restores from the friend's copy with the phrase alone
    ok("import", str(bundle), data=back, stdin=phrase)
    assert export(home, tmp_path / "home.bundle") == export(back, tmp_path / "back.bundle")


@pytest.mark.timeout(400)  # three providers and about 20 runs of the CLI
def test_a_move_reaches_every_provider_of_the_home(tmp_path: Path) -> None:
    """A device that restores from one provider hands the move to the home's other providers
    too (it learns them from the repository, not from the lost copy), and one that was down
    then gets it before the device's next publish there: from then on none of them takes the
    old copy's publishes."""
    started = [
        Provider(tmp_path / f"p{n}", tmp_path / f"p{n}.log", args=("--workers", "1")).start()
        for n in range(3)
    ]
    first, _, third = started
    old, device = tmp_path / "old", tmp_path / "device"
    try:
        phrase = init(old)["phrase"]
        ok("add", "note", "Written before the move", data=old)
        for provider in started:
            ok("providers", "add", provider.url, provider.invite(), "--name", "alice", data=old)
        ok("publish", data=old)
        ok("publish", data=old)  # the signing delegation the first publish wrote

        third.stop()  # down while the home moves
        ok("restore", "--from", first.url, data=device, stdin=phrase)
        listed = json.loads(ok("providers", "list", "--json", data=device))
        assert [p["url"] for p in listed] == [p.url for p in started]
        assert [p.get("handoff_epoch") for p in listed] == [1, 1, None]

        third.start()
        ok("add", "note", "Written on the device", data=device)
        ok("publish", data=device)  # hands the third its handoff first
        listed = json.loads(ok("providers", "list", "--json", data=device))
        assert [p.get("handoff_epoch") for p in listed] == [1, 1, 1]

        # the old copy, not told yet, writes and publishes: every provider refuses it
        ok("add", "note", "Written on the old copy", data=old)
        stale = cli("publish", data=old)
        assert stale.code != 0 and "standby" in stale.err
        for provider in started:
            page = provider.page("alice").text
            assert "Written on the device" in page
            assert "Written on the old copy" not in page
    finally:
        for provider in started:
            provider.stop()


@pytest.fixture(params=BACKENDS)
def first_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The first copy's environment: its records on SQLite or on a fresh PostgreSQL db."""
    env = cli_env()
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    return env


@pytest.mark.timeout(300)
def test_a_standby_that_committed_after_the_move_moves_back_and_keeps_that_commit_aside(
    tmp_path: Path, provider: Provider, first_env: dict[str, str]
) -> None:
    first, device, aside_home = tmp_path / "first", tmp_path / "device", tmp_path / "aside"
    phrase = init(first, env=first_env)["phrase"]
    ok("add", "note", "Published from the first copy", data=first, env=first_env)
    invite = provider.invite()
    ok("providers", "add", provider.url, invite, "--name", "alice", data=first, env=first_env)
    ok("publish", data=first, env=first_env)
    ok("restore", "--from", provider.url, data=device, stdin=phrase)

    # the first copy has not heard of the move: it writes, and its publish snapshots a commit
    # that the provider refuses (it learns there that it is a standby)
    ok("add", "note", "Written on the first copy after the move", data=first, env=first_env)
    refused = cli("publish", data=first, env=first_env)
    assert refused.code != 0 and "standby" in refused.err
    mine = json.loads(ok("log", "--json", data=first, env=first_env))[0]
    ok("add", "note", "Written on the device", data=device)
    ok("publish", data=device)

    # the move back succeeds: the commit no provider took is set aside, named to the owner
    back = ok("restore", "--from", provider.url, data=first, stdin=phrase, env=first_env)
    assert "set aside" in back and "never reached the provider" in back
    kept = sorted((first / "set-aside").iterdir())
    assert len(kept) == 1 and str(kept[0]) in back
    assert json.loads((first / "handoff.json").read_text())["epoch"] == 2
    assert export(first, tmp_path / "f.bundle", first_env) == export(device, tmp_path / "d.bundle")
    ok("add", "note", "Back at the first copy", data=first, env=first_env)
    ok("publish", data=first, env=first_env)
    page = provider.page("alice").text
    assert "Back at the first copy" in page and "Written on the device" in page
    assert "Written on the first copy after the move" not in page

    # nothing lost: the set-aside file verifies and holds the history as it was, up to the
    # commit that never reached the provider, with the note written in it
    ok("verify", str(kept[0]), data=first, env=first_env)
    ok("import", str(kept[0]), data=aside_home, stdin=phrase)
    assert json.loads(ok("log", "--json", data=aside_home))[0]["commit"] == mine["commit"]
    ok("export-to", "jsonfeed", str(tmp_path / "feed"), data=aside_home)
    feed = "".join(p.read_text() for p in (tmp_path / "feed").rglob("*.json"))
    assert "Written on the first copy after the move" in feed
    # only a move back sets commits aside: a plain import of a diverged bundle still refuses
    plain = cli("import", str(tmp_path / "d.bundle"), data=aside_home)
    assert plain.code != 0 and "diverged" in plain.err
    assert json.loads(ok("log", "--json", data=aside_home))[0]["commit"] == mine["commit"]
    assert not (aside_home / "set-aside").exists()
