"""Followers move with the site: after each publish the providers are handed the site's
follower list when it changed (``publish/fedfollowers.py``)."""

from __future__ import annotations

import importlib

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.publish.fedfollowers").after_publish(event)
