"""Homeport's own features are plugins, registered through the same manager as anyone's."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from homeport.interop import registry
from homeport.plugins import manager
from homeport.render.themes import BUILTIN
from homeport.settings import Settings


def test_every_builtin_is_a_registered_plugin_with_its_hooks() -> None:
    plugins = manager.builtins_only()
    hooks = {name: info.hooks for name, info in plugins.info.items()}
    assert hooks == {
        "flush": ("register_routes",),
        "attachments": ("register_routes",),
        "changes": ("register_routes",),
        "content_types": ("register_content_types",),
        "themes": ("register_template_filters", "register_themes"),
        "live_web": ("register_protocols",),
        "webmentions": ("after_publish",),
        "payments": ("after_publish", "before_snapshot"),
        "fediverse": ("after_publish", "before_snapshot"),
        "importers": ("register_importers",),
        "signin": ("register_connectors", "register_settings"),
        "exporters": ("register_exporters",),
    }
    assert all(info.builtin for info in plugins.info.values())


def test_the_openid_connector_exists_only_when_configured(tmp_path: Path) -> None:
    plugins = manager.builtins_only()
    assert plugins.connectors(Settings(tmp_path)) == {}
    given = {"oidc_issuer": "https://id.example.org/", "oidc_client_id": "homeport"}
    found = plugins.connectors(Settings(tmp_path, plugins=given))
    assert list(found) == ["oidc"] and found["oidc"].title == "Sign in with OpenID Connect"
    google = plugins.connectors(Settings(tmp_path, plugins={"oidc_preset": "google",
                                                           "oidc_client_id": "x"}))
    assert list(google) == ["google"]


def test_the_live_web_protocols_come_from_the_registry_through_the_plugin() -> None:
    assert manager.builtins_only().gather("register_protocols") == list(registry.PROTOCOLS)


def test_flush_is_mounted_only_with_its_setting(tmp_path: Path) -> None:
    plugins = manager.builtins_only()
    off = plugins.gather("register_routes", settings=Settings(tmp_path))
    on = plugins.gather("register_routes", settings=Settings(tmp_path, flush_endpoint=True))
    assert "/v1/__flush__" not in [r.path for r in off]
    assert "/v1/__flush__" in [r.path for r in on]
    assert {"/attachments/{bucket_id}/{collection_id}/{id}/{name}",
            "/v1/buckets/{bucket_id}/collections/{collection_id}/changes"} <= {
        r.path for r in off}


def test_the_builtin_themes_are_registered_by_folder() -> None:
    themes = manager.builtins_only().gather("register_themes")
    assert themes == [BUILTIN / "journal", BUILTIN / "portfolio"]


def test_a_disabled_builtin_is_not_called(tmp_path: Path) -> None:
    plugins = manager.load(third_party=False, disabled=["attachments"])
    paths = [r.path for r in plugins.gather("register_routes", settings=Settings(tmp_path))]
    assert not any(p.startswith("/attachments/") for p in paths)
    assert not plugins.info["attachments"].enabled


EVIL = '''
import types
from starlette.routing import Route
from homeport.plugins import hookimpl

protocol = types.ModuleType("evil_protocol")
protocol.provider_routes = lambda: [Route("/evil", lambda r: None)]
protocol.home_handlers = lambda: {}


@hookimpl
def register_protocols():
    return [protocol]
'''


def test_a_provider_loads_no_third_party_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evil_plugin.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="evil", value="evil_plugin", group="homeport")
    monkeypatch.setattr(manager, "entry_points", lambda: [point])
    at_home = manager.load()
    assert "evil" in at_home.info  # the home would run it
    assert len(at_home.gather("register_protocols")) == len(registry.PROTOCOLS) + 1
    at_provider = manager.builtins_only()
    assert "evil" not in at_provider.info
    assert at_provider.gather("register_protocols") == list(registry.PROTOCOLS)
