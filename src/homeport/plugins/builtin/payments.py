"""After each publish: payments' set-up (``interop/payments_home.py``: a tier or a provider
added since gets its Stripe price, webhook endpoint and delegation) and the newsletter
(``interop/newsletter_home.py``: the entries it made new, mailed). Imported at the first
publish; each does nothing until it is set up."""

from __future__ import annotations

import importlib

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.interop.payments_home").after_publish(event)
    importlib.import_module("homeport.interop.newsletter_home").after_publish(event)
