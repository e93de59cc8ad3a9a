"""Webmention sending after each publish (``interop/sending.py``, imported at the first
publish: the renderer it reads with is heavy to import)."""

from __future__ import annotations

import importlib

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.interop.sending").after_publish(event)
