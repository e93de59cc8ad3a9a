"""Plugins: the hooks (``hookspecs.py``), what they return (``kinds.py``), the manager.

A plugin marks its hook implementations with ``homeport.plugins.hookimpl`` and is found
through the ``homeport`` entry-point group; Homeport's own features are registered the same
way (``manager.BUILTINS``). Plugins run only at the home, never at a provider.
"""

from __future__ import annotations

import pluggy

PROJECT = "homeport"
"""The pluggy project name and the entry-point group."""

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's implementation of a hook: ``@hookimpl def register_routes(): …``."""

hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]
