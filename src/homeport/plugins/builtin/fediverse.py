"""The fediverse after each publish: the first provider is made the one that signs for the
site (``interop/activitypub/homekey.py``), then the providers are handed the site's follower
list when it changed (``publish/fedfollowers.py``), and when the site's address changed the
old provider sends ``Move`` (``interop/activitypub/homemove.py``). All are imported at the
first publish."""

from __future__ import annotations

import importlib

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.interop.activitypub.homekey").after_publish(event)
    importlib.import_module("homeport.publish.fedfollowers").after_publish(event)
    importlib.import_module("homeport.interop.activitypub.homemove").after_publish(event)
