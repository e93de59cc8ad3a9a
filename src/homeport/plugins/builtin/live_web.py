"""The live web's protocols (Micropub, Webmention, IndieAuth, WebSub, grants…): the list
``interop/registry.py`` keeps, given to the provider (routes) and the relay (inbox handlers)."""

from __future__ import annotations

from types import ModuleType

from homeport.plugins import hookimpl


@hookimpl
def register_protocols() -> list[ModuleType]:
    # every protocol's module, imported when a server asks: a publish loads the plugins too
    from homeport.interop import registry

    return list(registry.PROTOCOLS)
