"""The plugin manager: built-ins and installed plugins, registered the same way.

Built-in features are modules named in ``BUILTINS`` (imported by name, as Datasette's
``DEFAULT_PLUGINS``); third-party plugins are found through the ``homeport`` entry-point group.
Both go through ``Plugins.register``. Hooks are called one plugin at a time (``Plugins.call``)
so that a plugin that raises is named, disabled for the rest of the process and logged, and
the others' answers still count: one broken plugin must not take the home down.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from homeport.plugins import PROJECT, hookspecs, state
from homeport.plugins.kinds import Connector, Exporter, Importer
from homeport.settings import Settings, coerce

log = logging.getLogger("homeport.plugins")

BUILTINS: tuple[str, ...] = tuple(
    f"homeport.plugins.builtin.{name}"
    for name in ("flush", "attachments", "changes", "content_types", "themes", "live_web",
                 "webmentions", "payments", "fediverse", "importers", "signin",
                 "exporters")
)
"""Homeport's own features, as plugin modules (``homeport/plugins/builtin/``), registered in
this order before any installed plugin."""

ONLY_ENV = "HOMEPORT_PLUGINS_ONLY"
"""Comma-separated names: load only these third-party plugins (debugging a broken set)."""


@dataclass
class PluginInfo:
    """One registered plugin, as ``homeport plugins list`` shows it."""

    name: str
    builtin: bool
    version: str = ""
    distribution: str = ""
    hooks: tuple[str, ...] = ()
    enabled: bool = True
    problem: str = ""
    """Why it is disabled when Homeport disabled it (a hook raised, a licence failed)."""


@dataclass
class Plugins:
    """One process's plugins. Create with ``load()``; ``call`` a hook by name."""

    pm: pluggy.PluginManager
    info: dict[str, PluginInfo] = field(default_factory=dict)

    def register(self, plugin: Any, name: str, *, builtin: bool, version: str = "",
                 distribution: str = "") -> None:
        self.pm.register(plugin, name=name)
        hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or []))
        self.info[name] = PluginInfo(name, builtin, version, distribution, hooks)

    def disable(self, name: str, problem: str = "") -> None:
        """Stop calling ``name``'s hooks (the owner's choice, or ``problem``)."""
        found = self.info.get(name)
        if found is None:
            return
        found.enabled = False
        found.problem = problem or found.problem

    def enabled(self) -> list[str]:
        return [name for name, info in self.info.items() if info.enabled]

    def call(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(plugin name, answer)`` of each enabled plugin implementing ``hook``, built-ins
        first then in registration order; ``None`` answers are left out. A third-party plugin
        that raises is disabled with the error as its problem; a built-in that raises is
        logged and asked again next time (webmention sending after a failed publish hook must
        not stop for the life of the process)."""
        caller = getattr(self.pm.hook, hook)
        answers: list[tuple[str, Any]] = []
        for impl in caller.get_hookimpls():  # registration order
            name = impl.plugin_name
            if not self.info.get(name, PluginInfo(name, False)).enabled:
                continue
            args = {arg: kwargs[arg] for arg in impl.argnames}
            try:
                answer = impl.function(**args)
            except Exception as exc:  # a plugin's failure must not stop the home
                if self.info[name].builtin:  # ours: a bug or a passing fault, not a verdict
                    log.exception("built-in plugin %r failed in hook %s", name, hook)
                    continue
                log.exception("plugin %r failed in hook %s; disabling it", name, hook)
                self.disable(name, f"{hook} raised {type(exc).__name__}: {exc}")
                continue
            if answer is not None:
                answers.append((name, answer))
        return answers

    def by_name(self, hook: str, **kwargs: Any) -> dict[str, Any]:
        """A ``register_*`` hook's objects by their ``name`` (importers, exporters,
        connectors): the first plugin to claim a name keeps it, a later one is logged."""
        found: dict[str, Any] = {}
        for plugin, answer in self.call(hook, **kwargs):
            for item in answer:
                name = str(getattr(item, "name", ""))
                if name in found:
                    log.warning("plugin %r: %s %r is taken; ignored", plugin, hook, name)
                    continue
                found[name] = item
        return found

    def importers(self) -> dict[str, Importer]:
        """``homeport import-from KIND``'s kinds."""
        return self.by_name("register_importers")

    def exporters(self) -> dict[str, Exporter]:
        """``homeport export-to KIND``'s kinds."""
        return self.by_name("register_exporters")

    def connectors(self, settings: Settings) -> dict[str, Connector]:
        """The sign-in connectors configured in ``settings``."""
        return self.by_name("register_connectors", settings=settings)

    def gather(self, hook: str, **kwargs: Any) -> list[Any]:
        """Every enabled plugin's answers to a ``register_*`` hook, flattened into one list."""
        found: list[Any] = []
        for _, answer in self.call(hook, **kwargs):
            found.extend(answer)
        return found


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=PROJECT), key=lambda e: e.name)


def load(*, third_party: bool = True, builtins: Iterable[str] = BUILTINS,
         disabled: Iterable[str] = ()) -> Plugins:
    """The built-ins, then (``third_party``) every installed plugin, minus ``disabled``.

    A plugin that cannot be imported or registered is listed with its problem, not loaded."""
    plugins = Plugins(_new_manager())
    for module_name in builtins:
        module = importlib.import_module(module_name)
        plugins.register(module, module_name.rsplit(".", 1)[-1], builtin=True)
    if third_party:
        only = {n.strip() for n in os.environ.get(ONLY_ENV, "").split(",") if n.strip()}
        for point in entry_points():
            if only and point.name not in only:
                continue
            _load_entry_point(plugins, point)
    for name in disabled:
        if name in plugins.info:
            plugins.disable(name)
    return plugins


_active: dict[Path, Plugins] = {}


def load_for(settings: Settings) -> Plugins:
    """This home's plugins: built-ins, then what is installed in its environment and in its
    data dir (``state.py``), minus those the owner turned off. Also makes them the process's
    ``active`` set."""
    state.use_packages(settings.data_dir)
    importlib.invalidate_caches()  # a plugin installed since the last look
    found = load(disabled=state.read(settings.data_dir).disabled)
    _active[settings.data_dir] = found
    return found


def active(settings: Settings) -> Plugins:
    """The plugins loaded for this data dir in this process (loaded now if none were)."""
    found = _active.get(settings.data_dir)
    return found if found is not None else load_for(settings)


def setting(settings: Settings, name: str) -> Any:
    """A plugin's setting (declared with ``register_settings``): ``HOMEPORT_<NAME>``, else the
    ``[plugins]`` table of ``homeport.toml``, else its default, as the default's type.
    SettingsError names a value that cannot be read, KeyError a setting nobody declared."""
    declared = {s.name: s for s in active(settings).gather("register_settings")}
    found = declared[name]
    if name not in settings.plugins:
        return found.default
    kind = {bool: "bool", int: "int", tuple: "tuple"}.get(type(found.default), "str | None")
    return coerce(name, settings.plugins[name], kind)


def builtins_only() -> Plugins:
    """What a provider runs: Homeport's own plugins, never a third party's."""
    return load(third_party=False)


def _load_entry_point(plugins: Plugins, point: importlib.metadata.EntryPoint) -> None:
    dist = point.dist
    version = dist.version if dist is not None else ""
    dist_name = dist.metadata["Name"] if dist is not None else ""
    if point.name in plugins.info:
        log.warning("plugin %r (%s): the name is taken; not loaded", point.name, dist_name)
        return
    try:
        module: ModuleType = point.load()
        plugins.register(module, point.name, builtin=False, version=version,
                         distribution=dist_name)
    except Exception as exc:  # an install that does not import must not stop the home
        log.exception("plugin %r could not be loaded", point.name)
        plugins.info[point.name] = PluginInfo(
            point.name, False, version, dist_name, enabled=False,
            problem=f"could not be loaded: {type(exc).__name__}: {exc}")


__all__ = ["BUILTINS", "PluginInfo", "Plugins", "active", "builtins_only", "entry_points",
           "load", "load_for", "setting"]
