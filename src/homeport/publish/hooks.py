"""The "after publish" seam: callbacks run after each publish that made something new live.

Every publish of a home goes through ``publish.run.publish`` (``homeport publish``, the GUI's
button, the auto-publisher), which calls the registered callbacks with a ``Published``: the
commit the previous such publish made live, the one this publish made live, and what each
provider answered. Webmention sending and WebSub pings hang off it.

Callbacks run in the publishing process (``serve`` or the CLI), in a worker thread, while the
publish lock is still held, so calls to one home never overlap and each call's ``previous`` is
the last call's ``head``. Keep them short (queue the slow work) and idempotent: a callback that
raises is logged and does not fail the publish, and it is not called again for that publish.

The "before snapshot" seam is the other half: callbacks awaited with the publish's context
(its open store), lock held, before the site is built and snapshotted. What they write to the
store (a delegation a provider needs to act on this very publish) is in this publish's commit,
so it makes no second one.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.settings import Settings

if TYPE_CHECKING:
    from homeport.services.context import Context

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
BeforeSnapshot = Callable[["Context"], Awaitable[None]]
"""Awaited before the snapshot of each publish, on the publish's own context (its open store),
so that records it writes (a delegation the providers need, a price a tier needs) ride in that
same commit instead of making a new one."""


class _Seam:
    """Callbacks registered once each, or modules whose function ``attr`` is imported at the
    first call (so a heavy module never slows the start of ``serve``)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr
        self.callbacks: list[Callable[[Any], Any] | str] = []

    def add(self, callback: Callable[[Any], Any] | str) -> None:
        if callback not in self.callbacks:
            self.callbacks.append(callback)

    def forget(self, callback: Callable[[Any], Any] | str) -> None:
        if callback in self.callbacks:
            self.callbacks.remove(callback)

    def resolve(self, registered: Callable[[Any], Any] | str) -> Callable[[Any], Any]:
        if isinstance(registered, str):
            found: Callable[[Any], Any] = getattr(importlib.import_module(registered), self.attr)
            return found
        return registered

    def failed(self, callback: object, exc: Exception) -> str:
        log.exception("%s callback %r failed", self.attr, callback)
        return f"{getattr(callback, '__qualname__', callback)}: {exc}"

    def call(self, arg: object) -> list[str]:
        """Call every callback in registration order; the errors of those that raised."""
        errors = []
        for registered in list(self.callbacks):
            try:
                self.resolve(registered)(arg)
            except Exception as exc:  # one callback's failure must not stop the others
                errors.append(self.failed(registered, exc))
        return errors

    async def await_all(self, arg: object) -> list[str]:
        """Await every callback in registration order (a module is imported in a worker
        thread); the errors of those that raised."""
        errors = []
        for registered in list(self.callbacks):
            try:
                callback = await asyncio.to_thread(self.resolve, registered)
                await callback(arg)
            except Exception as exc:  # one callback's failure must not stop the others
                errors.append(self.failed(registered, exc))
        return errors


_after = _Seam("after_publish")
_before = _Seam("before_snapshot")


def after_publish(callback: AfterPublish) -> AfterPublish:
    """Register ``callback`` (once; registering it again changes nothing). Usable as a
    decorator."""
    _after.add(callback)
    return callback


def after_publish_in(module: str) -> None:
    """Register ``module``'s ``after_publish`` function, imported at the first publish."""
    _after.add(module)


def before_snapshot(callback: BeforeSnapshot) -> BeforeSnapshot:
    """Register ``callback`` to be awaited before each publish's snapshot, lock held."""
    _before.add(callback)
    return callback


def before_snapshot_in(module: str) -> None:
    """Register ``module``'s ``before_snapshot`` function, imported at the first publish."""
    _before.add(module)


PUBLISH_HOOKS: tuple[str, ...] = ("homeport.plugins.publishing",)
"""Modules with an ``after_publish(event)`` and a ``before_snapshot(ctx)`` function, called
around each publish, whoever published: the plugins' hooks (webmention sending is the built-in
plugin ``webmentions``)."""


def register_publish_hooks() -> None:
    """Register the home's callbacks by module name; ``serve`` and ``homeport publish`` both
    call this, so they run whichever process publishes (each imported at its first call)."""
    for name in PUBLISH_HOOKS:
        after_publish_in(name)
        before_snapshot_in(name)


def forget(callback: Callable[[Any], None] | str) -> None:
    """Unregister ``callback`` from both seams (tests)."""
    _after.forget(callback)
    _before.forget(callback)


def call_all(event: Published) -> list[str]:
    """Call every after-publish callback in registration order; the errors of those that
    raised."""
    return _after.call(event)


async def call_before(ctx: Context) -> list[str]:
    """Await every before-snapshot callback; the errors of those that raised (the publish goes
    on without what they would have written)."""
    return await _before.await_all(ctx)
