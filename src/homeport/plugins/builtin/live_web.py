"""The live web's protocols (Micropub, Webmention, IndieAuth, WebSub, grants…): the list
``interop/registry.py`` keeps, given to the provider (routes) and the relay (inbox handlers)."""

from __future__ import annotations

from types import ModuleType

from homeport.interop import registry
from homeport.plugins import hookimpl


@hookimpl
def register_protocols() -> list[ModuleType]:
    return list(registry.PROTOCOLS)
