"""Payments and the newsletter around each publish. Before the snapshot, payments' set-up
(``interop/payments_home.py``: a tier or a provider added since gets its Stripe price, webhook
endpoint and delegation), so what it records rides in this commit. After the publish, the
newsletter (``interop/newsletter_home.py``: the entries it made new, mailed). Imported at the
first publish; each does nothing until it is set up."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published
from homeport.services.context import Context


@hookimpl
def before_snapshot(ctx: Context) -> Awaitable[None]:
    module = importlib.import_module("homeport.interop.payments_home")
    result: Awaitable[None] = module.before_snapshot(ctx)
    return result


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.interop.newsletter_home").after_publish(event)
