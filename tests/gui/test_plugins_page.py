"""The Plugins page: the example plugin (examples/homeport-recipes) installed from a signed
local catalogue through the GUI's forms, then used (its entry type, GUI page and route), and
what the page refuses (a catalogue signed by someone else, a wheel whose hash differs)."""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport.plugins import activate, state
from homeport.plugins import catalogue as catalogues
from homeport.settings import Settings
from homeport.testing.plugins import Publisher, build_wheel, entry_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport-recipes"


@pytest.fixture
def catalogue(tmp_path: Path, settings: Settings) -> Iterator[tuple[Path, Publisher, Path]]:
    """A catalogue offering the example plugin, signed by a fresh publisher; afterwards the
    process forgets the plugin (its folder on sys.path, its entry type)."""
    folder = tmp_path / "catalogue"
    wheel = build_wheel(EXAMPLE, folder)
    publisher = Publisher.new()
    path = publisher.catalogue(folder, [entry_for(
        wheel, "homeport-recipes", "1.0.0", touches=["routes", "admin-pages", "content-types"],
        description="Recipes on your site")])
    try:
        yield path, publisher, wheel
    finally:
        packages = str(state.packages_dir(settings.data_dir))
        if packages in sys.path:
            sys.path.remove(packages)
        for name in [m for m in sys.modules if m.startswith("homeport_recipes")]:
            del sys.modules[name]
        activate.reset()


def _form(client: Any, target: str, **fields: str) -> Any:
    page = client.get("/admin/plugins")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return client.post(target, data={"csrf": csrf.group(1), **fields})


def test_the_example_installs_from_a_signed_catalogue_and_works(
    client: Any, gui: Any, catalogue: tuple[Path, Publisher, Path], settings: Settings
) -> None:
    path, publisher, _ = catalogue
    gui.wizard(client)
    listed = client.get("/admin/plugins")
    assert listed.status_code == 200
    for builtin in ("attachments", "changes", "live_web", "themes", "content_types"):
        assert f'data-name="{builtin}"' in listed.text

    wrong = _form(client, "/admin/plugins/catalogue", url=str(path),
                  publisher=Publisher.new().did)
    assert wrong.status_code == 400
    assert "signature does not match" in wrong.text

    shown = _form(client, "/admin/plugins/catalogue", url=str(path), publisher=publisher.did)
    assert shown.status_code == 200 and 'data-name="homeport-recipes"' in shown.text
    assert "Recipes on your site" in shown.text

    done = _form(client, "/admin/plugins/install", url=str(path), publisher=publisher.did,
                 name="homeport-recipes")
    assert done.status_code == 200 and "homeport-recipes 1.0.0 is installed" in done.text
    assert 'data-name="recipes"' in done.text
    assert 'href="/admin/plugins/recipes/"' in done.text  # its GUI page, linked

    page = client.get("/admin/plugins/recipes/")
    assert page.status_code == 200 and "No recipe yet." in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    added = client.post("/admin/plugins/recipes/add", data={
        "csrf": csrf.group(1), "title": "Tomato soup",
        "ingredients": "6 tomatoes\n1 onion\n", "method": "Simmer *gently*."})
    assert added.status_code == 200 and "Added Tomato soup." in added.text
    assert "<li>Tomato soup</li>" in added.text

    refused = client.post("/admin/plugins/recipes/add", data={"title": "No token"})
    assert refused.status_code == 403  # the GUI's CSRF check guards the plugin's route

    built = _form(client, "/admin/build")
    assert built.status_code == 200
    home = client.get("/preview/")
    assert home.status_code == 200
    recipe = client.get(str(home.url).rstrip("/") + "/recipes/tomato-soup/")
    assert recipe.status_code == 200
    assert 'class="h-recipe' in recipe.text and '<li class="p-ingredient">1 onion</li>' in \
        recipe.text
    assert "<em>gently</em>" in recipe.text

    off = _form(client, "/admin/plugins/disable", name="recipes")
    assert off.status_code == 200 and "recipes is off" in off.text
    assert client.get("/admin/plugins/recipes/").status_code == 404
    assert state.read(settings.data_dir).disabled == ["recipes"]


def test_a_wheel_that_differs_from_the_catalogue_is_not_installed(
    client: Any, gui: Any, catalogue: tuple[Path, Publisher, Path], settings: Settings
) -> None:
    path, publisher, wheel = catalogue
    gui.wizard(client)
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    refused = _form(client, "/admin/plugins/install", url=str(path), publisher=publisher.did,
                    name="homeport-recipes")
    assert refused.status_code == 400
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    said = html.unescape(refused.text)
    assert "does not match the catalogue's SHA-256" in said and digest in said
    assert not state.packages_dir(settings.data_dir).exists()
    assert state.read(settings.data_dir).installed == {}


BROKEN = '''
from homeport.plugins import hookimpl

@hookimpl
def register_routes(settings):
    raise RuntimeError("broken on purpose")
'''


def test_a_plugin_that_raises_at_start_is_named_and_off_and_the_home_works(
    make_client: Any, gui: Any, tmp_path: Path, settings: Settings
) -> None:
    project = tmp_path / "broken"
    (project / "src" / "homeport_broken").mkdir(parents=True)
    (project / "src" / "homeport_broken" / "__init__.py").write_text(BROKEN)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "homeport-broken"\nversion = "0.1"\n'
        '[project.entry-points.homeport]\nbroken = "homeport_broken"\n')
    folder = tmp_path / "catalogue"
    wheel = build_wheel(project, folder)
    publisher = Publisher.new()
    path = publisher.catalogue(folder, [entry_for(wheel, "homeport-broken", "0.1")])
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(catalogues.install(settings, str(path), publisher.did, "homeport-broken"))
    try:
        client = make_client()  # the home starts with the broken plugin installed
        assert client.get("/v1/").status_code == 200
        gui.wizard(client)
        listed = html.unescape(client.get("/admin/plugins").text)
        assert 'data-name="broken"' in listed
        assert "register_routes raised RuntimeError: broken on purpose" in listed
        assert client.get("/v1/__heartbeat__").status_code == 200
    finally:
        packages = str(state.packages_dir(settings.data_dir))
        if packages in sys.path:
            sys.path.remove(packages)
        sys.modules.pop("homeport_broken", None)
