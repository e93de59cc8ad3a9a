"""A push cut in the middle, through the real CLI: a TCP relay between the home and a real
provider cuts every connection once about half the data has gone up, so ``homeport publish``
fails with one line, the home stays whole and the provider's site stays as it was; with the
relay passing everything again, the next publish finishes without sending again what arrived.
And a provider killed (SIGKILL) mid-push, restarted on the same data, takes the next publish."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mf2py
import pytest

from homeport.testing.relay import Relay

from .provider_support import BASE, Provider, add_papers
from .repo_support import Run, cli, init, ok

PAPERS, PAPER_BYTES = 2, 2 * 1024 * 1024  # 4 MiB of incompressible attachments


@dataclass
class World:
    """A provider, the relay in front of it, and a home enrolled through the relay with one
    article live: shared by the module's tests, each of which adds its own papers."""

    folder: Path
    provider: Provider
    relay: Relay
    home: Path

    def add_papers(self, prefix: str) -> int:
        return int(add_papers(self.home, self.folder, PAPERS, PAPER_BYTES, prefix))

    def head(self) -> int:
        rows = json.loads(ok("log", "--json", data=self.home))
        return int(rows[0]["seq"])


@dataclass
class Story:
    """What one cut push and its resumption showed (run once, for the tests to check)."""

    size: int
    cut: Run
    cut_rows: list[dict[str, Any]]
    cut_up: int
    site_after_cut: str
    verify_after_cut: Run
    resumed: Run
    resumed_rows: list[dict[str, Any]]
    resumed_up: int
    resumed_head: int
    site_after_resume: str
    audit_after_resume: Run


def publish(home: Path) -> tuple[Run, list[dict[str, Any]]]:
    run = cli("publish", "--json", data=home)
    rows = json.loads(run.out) if run.out.strip().startswith("[") else []
    return run, rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("push")
    provider = Provider(folder / "provider", folder / "provider.log")
    relay: Relay | None = None
    try:
        relay = Relay(provider.port)
        # the home reaches the provider through the relay, as through a front proxy
        provider.env["HOMEPORT_PROVIDER_PUBLIC_URL"] = relay.url
        provider.start()
        home = folder / "home"
        init(home)
        article = folder / "first.md"
        article.write_text("---\ntitle: The first version\n---\n\nBefore the big upload.\n")
        ok("add", "article", str(article), data=home)
        ok("providers", "add", relay.url, provider.invite(), "--name", "ada", data=home)
        run, rows = publish(home)
        assert run.code == 0 and rows[0]["ok"], run.err or rows
        assert "The first version" in provider.page("ada").text
        yield World(folder, provider, relay, home)
    finally:
        if relay is not None:
            relay.stop()
        provider.stop()


@pytest.fixture(scope="module")
def story(world: World) -> Story:
    size = world.add_papers("Cut")

    # 1. the relay cuts every connection once half the new data has gone up
    world.relay.cut_after(size // 2)
    cut, cut_rows = publish(world.home)
    cut_up = world.relay.up
    site_after_cut = world.provider.page("ada").text
    verify_after_cut = cli("verify", data=world.home)

    # 2. the connection is back: publish again
    world.relay.cut_after(None)
    resumed, resumed_rows = publish(world.home)
    return Story(
        size,
        cut,
        cut_rows,
        cut_up,
        site_after_cut,
        verify_after_cut,
        resumed,
        resumed_rows,
        world.relay.up,
        world.head(),
        world.provider.page("ada").text,
        cli("verify", "--provider", world.relay.url, data=world.home),
    )


def test_a_cut_push_fails_in_one_line_and_the_next_publish_finishes(
    story: Story, world: World
) -> None:
    # the cut: exit 1, the provider named with what happened in one line, no traceback
    assert story.cut.code == 1, story.cut
    assert story.cut_up == story.size // 2  # the relay did cut mid-push
    assert [row["ok"] for row in story.cut_rows] == [False], story.cut_rows
    error = str(story.cut_rows[0]["error"])
    assert error.startswith(world.relay.url) and "cannot reach the provider" in error, error
    assert "\n" not in error
    assert "Traceback" not in story.cut.out + story.cut.err
    # the home is whole, and the provider still serves the site it had
    assert story.verify_after_cut.code == 0, story.verify_after_cut
    assert "The first version" in story.site_after_cut
    assert "Cut 0" not in story.site_after_cut

    # the next publish finishes; the site has the papers; the provider's copy is whole
    assert story.resumed.code == 0, story.resumed.err
    row = story.resumed_rows[0]
    assert row["ok"] and not row["up_to_date"] and row["seq"] == story.resumed_head, row
    entries = json.dumps(mf2py.parse(doc=story.site_after_resume, url=f"http://ada.{BASE}/"))
    assert "The first version" in entries and "Cut 0" in entries and "Cut 1" in entries
    assert story.audit_after_resume.code == 0, story.audit_after_resume.err
    assert "ok" in story.audit_after_resume.out


def test_what_arrived_before_the_cut_is_not_sent_again(story: Story) -> None:
    assert story.resumed.code == 0
    sent = int(story.resumed_rows[0]["bytes"])
    assert sent < story.size * 0.6, (sent, story.size)
    assert story.resumed_up < story.size * 0.6, (story.resumed_up, story.size)


def test_the_provider_does_not_log_a_cut_as_a_traceback(story: Story, world: World) -> None:
    assert "Traceback" not in world.provider.output()


def test_a_provider_killed_mid_push_and_restarted_takes_the_next_publish(world: World) -> None:
    before = world.provider.page("ada").text
    size = world.add_papers("Killed")

    # SIGKILL the provider once half the new data has gone up
    world.relay.cut_after(size // 2, then=world.provider.kill)
    cut, rows = publish(world.home)
    assert cut.code == 1 and [row["ok"] for row in rows] == [False], (cut, rows)
    assert world.provider.proc is not None
    assert world.provider.proc.returncode == -signal.SIGKILL
    assert "Traceback" not in cut.out + cut.err
    assert cli("verify", data=world.home).code == 0

    # restarted on the same data: it serves the site it had, then takes the next publish
    world.provider.start()
    assert world.provider.page("ada").text == before
    run, rows = publish(world.home)
    assert run.code == 0 and rows[0]["ok"] and rows[0]["seq"] == world.head(), run.err or rows
    site = world.provider.page("ada").text
    assert "Killed 0" in site and "Killed 1" in site
    audit = cli("verify", "--provider", world.relay.url, data=world.home)
    assert audit.code == 0, audit.err
