"""Payments' set-up after each publish (``interop/payments_home.py``): a tier or a provider
added since gets its Stripe price, webhook endpoint and delegation. Imported at the first
publish; does nothing without a connected account."""

from __future__ import annotations

import importlib

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.interop.payments_home").after_publish(event)
