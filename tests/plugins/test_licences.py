"""Paid plugins: installed from a signed catalogue, off until a licence made out to this home
by the same publisher holds; the licence kept as a record (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.plugins import activate, catalogue, licences, manager, state
from homeport.services import identity
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.testing.plugins import Publisher, build_wheel, entry_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport-recipes"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    url = (f"sqlite:///{tmp_path / 'home.db'}" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    found = Settings(tmp_path / "home", storage_url=url)
    found.data_dir.mkdir()
    try:
        yield found
    finally:
        packages = str(state.packages_dir(found.data_dir))
        if packages in sys.path:
            sys.path.remove(packages)
        for name in [m for m in sys.modules if m.startswith("homeport_recipes")]:
            del sys.modules[name]
        manager._active.pop(found.data_dir, None)
        activate.reset()


def _paid_catalogue(folder: Path, publisher: Publisher) -> Path:
    wheel = build_wheel(EXAMPLE, folder)
    return publisher.catalogue(folder, [entry_for(wheel, "homeport-recipes", "1.0.0",
                                                  price="5 EUR a year")])


async def _check(settings: Settings, add: list[bytes]) -> tuple[list[str], str]:
    """Add each licence (their errors), then what a start would make of the plugin."""
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    ctx = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
    errors = []
    try:
        for raw in add:
            try:
                await licences.add(ctx, raw)
            except licences.LicenceError as exc:
                errors.append(str(exc))
        found = manager.load_for(settings)
        await licences.enforce(ctx, found)
        info = found.info["recipes"]
        return errors, "on" if info.enabled else info.problem
    finally:
        await store.close()


def test_a_paid_plugin_runs_only_with_a_licence_for_this_home(
    settings: Settings, tmp_path: Path
) -> None:
    site = identity.create(settings.data_dir)[0].did
    publisher = Publisher.new()
    path = _paid_catalogue(tmp_path / "catalogue", publisher)
    entry = asyncio.run(catalogue.install(settings, str(path), publisher.did,
                                          "homeport-recipes"))
    assert entry.paid

    errors, verdict = asyncio.run(_check(settings, []))
    assert "paid plugin and this home has no licence" in verdict

    other_site = publisher.licence("homeport-recipes", Publisher.new().did)
    expired = publisher.licence("homeport-recipes", site, expires="2020-01-01T00:00:00Z")
    forged = Publisher.new().licence("homeport-recipes", site)
    errors, verdict = asyncio.run(_check(settings, [other_site, expired, forged]))
    assert "for another site" in errors[0]
    assert "expired on 2020-01-01" in errors[1]
    assert "does not match its publisher's key" in errors[2]
    assert "no licence" in verdict  # none of them was kept

    good = publisher.licence("homeport-recipes", site, expires="2999-01-01T00:00:00Z")
    errors, verdict = asyncio.run(_check(settings, [good]))
    assert errors == [] and verdict == "on"

    # kept as a record: a later start (a new process reading the store) still finds it
    manager._active.pop(settings.data_dir, None)
    assert asyncio.run(_check(settings, [])) == ([], "on")


def test_a_stored_licence_that_expires_turns_the_plugin_off_with_its_reason(
    settings: Settings, tmp_path: Path
) -> None:
    site = identity.create(settings.data_dir)[0].did
    publisher = Publisher.new()
    path = _paid_catalogue(tmp_path / "catalogue", publisher)
    asyncio.run(catalogue.install(settings, str(path), publisher.did, "homeport-recipes"))
    soon = publisher.licence("homeport-recipes", site, expires="2999-01-01T00:00:00Z")
    assert asyncio.run(_check(settings, [soon])) == ([], "on")
    # the clock passes its expiry: checked offline at the next start
    later = licences.check(soon, publisher.did, site, now=4_102_444_800.0)  # 2100: still fine
    assert later.tier == "standard"
    with pytest.raises(licences.LicenceError, match="expired"):
        licences.check(soon, publisher.did, site, now=32_503_680_000.0)  # year 3000


def test_remove_deletes_the_installed_files(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "home")  # files only: no store involved
    publisher = Publisher.new()
    path = _paid_catalogue(tmp_path / "catalogue", publisher)
    asyncio.run(catalogue.install(settings, str(path), publisher.did, "homeport-recipes"))
    packages = state.packages_dir(settings.data_dir)
    assert (packages / "homeport_recipes" / "__init__.py").is_file()
    catalogue.remove(settings.data_dir, "homeport-recipes")
    assert not (packages / "homeport_recipes").exists()
    assert not list(packages.glob("*.dist-info"))
    assert state.read(settings.data_dir).installed == {}
    with pytest.raises(catalogue.CatalogueError, match="was not installed"):
        catalogue.remove(settings.data_dir, "homeport-recipes")
