"""ActivityPub: the site followable from the fediverse (``docs/fediverse.md``).

At the provider: the inboxes (``inbox.py``: signatures, followers, items for the home) and
delivery (``delivery.py``: the queue's sender, what a publish tells followers); the keys of
other servers' actors (``remote.py``). At home: the ``activitypub.*`` items applied
(``home.py``), the owner's likes, boosts and replies by URL (``send.py``), which provider signs
(``homekey.py``) and the ``Move`` when the site's address changed (``homemove.py``, by
Mastodon's rules in ``moves.py``, pure). What the home renders (actor, objects, collections) is
``render/activitypub.py``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from homeport.interop.activitypub import delivery, home, inbox
from homeport.interop.ports import Handler

provider_lifespan = delivery.provider_lifespan


def provider_routes() -> list[BaseRoute]:
    return inbox.provider_routes()


def home_handlers() -> dict[str, Handler]:
    return home.home_handlers()


__all__ = ["home_handlers", "provider_lifespan", "provider_routes"]
