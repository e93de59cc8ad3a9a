"""The "after publish" seam: callbacks run after each publish that made something new live.

Every publish of a home goes through ``publish.run.publish`` (``homeport publish``, the GUI's
button, the auto-publisher), which calls the registered callbacks with a ``Published``: the
commit the previous such publish made live, the one this publish made live, and what each
provider answered. Webmention sending and WebSub pings hang off it.

Callbacks run in the publishing process (``serve`` or the CLI), in a worker thread, while the
publish lock is still held, so calls to one home never overlap and each call's ``previous`` is
the last call's ``head``. Keep them short (queue the slow work) and idempotent: a callback that
raises is logged and does not fail the publish, and it is not called again for that publish.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from homeport.settings import Settings

log = logging.getLogger("homeport.publish")


@dataclass(frozen=True)
class ProviderResult:
    """One provider's part of a publish."""

    url: str
    previous_seq: int | None
    """The commit this provider served before (None: never published there)."""
    previous_head: str | None
    seq: int | None
    """The commit it serves now; None when this provider failed (``error`` says why)."""
    head: str | None
    up_to_date: bool
    error: str | None


@dataclass(frozen=True)
class Published:
    """A publish that made a commit live at one provider or more."""

    settings: Settings
    previous_seq: int | None
    """The commit the previous publish with callbacks made live (None: the first publish)."""
    previous_head: str | None
    seq: int
    head: str
    """The commit id (hex) live now; ``seq`` is its sequence number."""
    providers: tuple[ProviderResult, ...]
    trigger: str
    """Who published: ``"cli"``, ``"gui"`` or ``"auto"``."""


AfterPublish = Callable[[Published], None]
_callbacks: list[AfterPublish | str] = []


def after_publish(callback: AfterPublish) -> AfterPublish:
    """Register ``callback`` (once; registering it again changes nothing). Usable as a
    decorator."""
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def after_publish_in(module: str) -> None:
    """Register ``module``'s ``after_publish`` function, imported at the first publish (so a
    heavy module never slows the start of ``serve``)."""
    if module not in _callbacks:
        _callbacks.append(module)


def forget(callback: AfterPublish | str) -> None:
    """Unregister ``callback`` (tests)."""
    if callback in _callbacks:
        _callbacks.remove(callback)


def call_all(event: Published) -> list[str]:
    """Call every callback in registration order; the errors of those that raised."""
    errors = []
    for registered in list(_callbacks):
        callback = registered
        try:
            if isinstance(callback, str):
                callback = importlib.import_module(callback).after_publish
            callback(event)
        except Exception as exc:  # one callback's failure must not stop the others
            log.exception("after-publish callback %r failed", callback)
            errors.append(f"{getattr(callback, '__qualname__', callback)}: {exc}")
    return errors
