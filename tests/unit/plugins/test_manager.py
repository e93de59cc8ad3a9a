"""The plugin manager: hooks gathered in registration order, a failing plugin disabled alone."""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from homeport.plugins import hookimpl, hookspecs, kinds, manager


def _module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))  # type: ignore[call-overload]
    return module


async def _page(request: object, csrf: str) -> str:
    return "<p>hi</p>"


def test_hooks_answer_in_registration_order_and_flatten() -> None:
    plugins = manager.load(third_party=False, builtins=())
    first = _module("first", register_admin_pages=lambda: [kinds.AdminPage("a", "A", _page)])
    second = _module("second", register_admin_pages=lambda: [kinds.AdminPage("b", "B", _page)],
                     register_routes=lambda settings: [Route("/b", lambda r: None)])
    plugins.register(first, "first", builtin=True)
    plugins.register(second, "second", builtin=False)
    assert [p.path for p in plugins.gather("register_admin_pages")] == ["a", "b"]
    assert plugins.info["second"].hooks == ("register_admin_pages", "register_routes")
    routes = plugins.gather("register_routes", settings=None)
    assert [r.path for r in routes] == ["/b"]


def test_a_plugin_that_raises_is_named_and_disabled_and_the_others_still_count() -> None:
    plugins = manager.load(third_party=False, builtins=())

    def broken() -> list[kinds.AdminPage]:
        raise ValueError("boom")

    plugins.register(_module("bad", register_admin_pages=broken), "bad", builtin=False)
    plugins.register(_module("good", register_admin_pages=lambda: [
        kinds.AdminPage("g", "G", _page)]), "good", builtin=False)
    assert [p.path for p in plugins.gather("register_admin_pages")] == ["g"]
    assert not plugins.info["bad"].enabled
    assert plugins.info["bad"].problem == "register_admin_pages raised ValueError: boom"
    assert plugins.enabled() == ["good"]
    # disabled for the rest of the process: not called again
    assert [p.path for p in plugins.gather("register_admin_pages")] == ["g"]


def test_disabled_by_the_owner_is_not_called() -> None:
    calls: list[str] = []
    module = _module("x", register_importers=lambda: calls.append("x") or [])
    plugins = manager.load(third_party=False, builtins=())
    plugins.register(module, "x", builtin=False)
    plugins.disable("x")
    assert plugins.gather("register_importers") == []
    assert calls == []


def test_an_implementation_with_a_misspelt_hook_name_is_refused() -> None:
    plugins = manager.load(third_party=False, builtins=())
    with pytest.raises(Exception, match="register_rutes"):
        plugins.register(_module("typo", register_rutes=lambda: []), "typo", builtin=False)
        plugins.pm.check_pending()


def test_every_hook_is_documented_and_typed() -> None:
    for name in hookspecs.__all__:
        function = getattr(hookspecs, name)
        assert inspect.getdoc(function), name
        assert "return" in function.__annotations__, name


def test_identity_principal_is_connector_and_subject() -> None:
    who = kinds.Identity("github", "12345", name="Ada")
    assert who.principal == "github:12345"


def test_a_plugins_setting_comes_from_env_then_toml_then_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeport.settings import SettingsError, load_settings

    module = _module("per_page", register_settings=lambda: [
        kinds.Setting("recipes_per_page", 10, "Recipes on a page"),
        kinds.Setting("recipes_title", "Recipes", "The list's title"),
        kinds.Setting("recipes_open", False, "Open to all")])
    (tmp_path / "homeport.toml").write_text('[plugins]\nrecipes_per_page = 12\n')
    monkeypatch.setenv("HOMEPORT_RECIPES_OPEN", "yes")
    settings = load_settings(tmp_path)
    plugins = manager.load(third_party=False, builtins=())
    plugins.register(module, "per_page", builtin=False)
    manager._active[settings.data_dir] = plugins
    try:
        assert manager.setting(settings, "recipes_per_page") == 12
        assert manager.setting(settings, "recipes_title") == "Recipes"
        assert manager.setting(settings, "recipes_open") is True
        monkeypatch.setenv("HOMEPORT_RECIPES_PER_PAGE", "many")
        with pytest.raises(SettingsError, match="recipes_per_page"):
            manager.setting(load_settings(tmp_path), "recipes_per_page")
    finally:
        del manager._active[settings.data_dir]


def test_an_unknown_top_level_key_is_still_refused(tmp_path: Path) -> None:
    from homeport.settings import SettingsError, load_settings

    (tmp_path / "homeport.toml").write_text("recipes_per_page = 12\n")
    with pytest.raises(SettingsError, match="unknown setting 'recipes_per_page'"):
        load_settings(tmp_path)


class _Importer:
    title = "T"
    accepts = "a file"

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, request: kinds.ImportRequest) -> Any:
        yield kinds.ImportItem("1", "created")


def test_importers_by_name_first_claim_wins() -> None:
    plugins = manager.load(third_party=False, builtins=())
    first, second = _Importer("wordpress"), _Importer("wordpress")
    plugins.register(_module("a", register_importers=lambda: [first]), "a", builtin=True)
    plugins.register(_module("b", register_importers=lambda: [second, _Importer("ghost")]), "b",
                     builtin=False)
    found = plugins.importers()
    assert list(found) == ["wordpress", "ghost"] and found["wordpress"] is first
    assert isinstance(first, kinds.Importer)  # the protocol is structural
    assert plugins.exporters() == {} and plugins.connectors(None) == {}  # type: ignore[arg-type]


def test_a_builtin_that_raises_is_logged_and_asked_again() -> None:
    calls: list[int] = []

    def flaky(event: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full for a moment")

    plugins = manager.load(third_party=False, builtins=())
    plugins.register(_module("ours", after_publish=flaky), "ours", builtin=True)
    plugins.call("after_publish", event=None)
    plugins.call("after_publish", event=None)
    assert calls == [1, 1] and plugins.info["ours"].enabled
