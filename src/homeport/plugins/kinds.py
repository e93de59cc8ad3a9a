"""The small protocols plugins hand to Homeport through the ``register_*`` hooks.

Structural (``typing.Protocol``): an importer, exporter or connector is any object with these
attributes and methods, so a plugin needs no base class and a built-in needs no import of this
module to qualify. The value types (reports, identities, declarations) are frozen dataclasses
the plugin builds and Homeport reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response

from homeport.core.errors import Unauthorized
from homeport.interop.exporters.report import ExportRequest, ExportResult
from homeport.interop.importers.report import (
    ImportFailed,
    ImportItem,
    ImportRequest,
    ItemAction,
)

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""Names of importers, exporters, connectors, content types and admin pages: lower case,
digits and dashes (they appear in URLs, CLI arguments and principals)."""


# ---- importers -----------------------------------------------------------------------------

@runtime_checkable
class Importer(Protocol):
    """Brings content in from somewhere else (WordPress WXR, a Mastodon archive, Kinto…).

    Contract: ``run`` yields one ``ImportItem`` per source item as it goes (the CLI prints
    them, the GUI shows progress); a second run over the same source yields only
    ``unchanged``/``skipped`` items and writes nothing new; a dry run writes nothing at all.
    Input that is malformed, truncated or hostile raises ``ImportFailed`` with a clear message
    before anything is written, or yields ``failed`` items for the parts it could not read.
    An importer that writes buckets of its own rather than one site's entries (``kinto``) sets
    ``whole_home = True``, and no site is asked for.
    """

    name: str
    """The ``KIND`` of ``homeport import-from KIND SOURCE`` (``wordpress``, ``mastodon``…)."""
    title: str
    """Shown in the GUI's Import page (``WordPress export (WXR)``)."""
    accepts: str
    """What SOURCE is, in words (``the .xml file WordPress exports``)."""

    def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]: ...


# ---- exporters -----------------------------------------------------------------------------


@runtime_checkable
class Exporter(Protocol):
    """Writes a site out in a portable format (JSON Feed, Markdown folder, WXR, AS2 outbox).

    Contract: reads only, writes only below ``request.target``; running it twice into the same
    folder gives the same files."""

    name: str
    """The ``KIND`` of ``homeport export-to KIND DIR``."""
    title: str

    async def export(self, request: ExportRequest) -> ExportResult: ...


# ---- sign-in connectors --------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A person as a connector vouches for them."""

    connector: str
    subject: str
    """Stable id at the issuer (OpenID ``sub``, the IndieAuth ``me`` URL, an email address)."""
    name: str = ""
    email: str = ""

    @property
    def principal(self) -> str:
        """The Kinto principal ``<connector>:<subject>`` permissions name."""
        return f"{self.connector}:{self.subject}"


class SignInFailed(Unauthorized):
    """A sign-in or bearer token that does not hold (wrong audience, issuer, signature,
    expiry…): answered 401, the message says which (an ``Unauthorized``, so ``/v1`` maps it
    without knowing plugins)."""


@runtime_checkable
class Connector(Protocol):
    """A way to sign in with an identity kept elsewhere (OpenID Connect, IndieAuth, email
    link, passkey).

    Used by the owner's GUI login (``begin``/``complete``) and by ``/v1``, where a bearer
    token is checked with ``authenticate`` and its person becomes ``Identity.principal``.
    A connector whose every identity is the owner (passkeys the logged-in owner added) says so
    with a true ``owner_only`` attribute; the GUI then does not ask ``signin_owners``."""

    name: str
    """Also the principal's prefix: ``github`` gives ``github:<subject>``."""
    title: str
    """The sign-in button's words (``Sign in with GitHub``)."""

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        """Start a sign-in: usually a redirect to the issuer, which returns to
        ``callback_url`` with ``state``."""
        ...

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        """Finish it on the callback request; raise ``SignInFailed`` when it does not hold."""
        ...

    async def authenticate(self, token: str) -> Identity | None:
        """The person behind a ``Bearer`` token on ``/v1``; ``None`` when the token is not
        this connector's; ``SignInFailed`` when it is but does not hold."""
        ...


# ---- content types, admin pages, settings --------------------------------------------------


@dataclass(frozen=True)
class ContentType:
    """An entry type a plugin adds (beside article, note, photo…).

    Its records live in the site's collection ``collection``, are checked against ``schema``
    (the common fields — slug, visibility, draft, published, tags — are added), and are
    rendered at ``/<collection>/<slug>/`` with ``template``."""

    name: str
    collection: str
    title_field: str
    schema: Mapping[str, Any]
    """JSON schema ``properties`` of the type's own fields."""
    required: tuple[str, ...] = ()
    template: str = ""
    """The Jinja2 template (its source) for one entry; the theme's ``entry.html`` when empty.
    It runs in the themes' sandbox with the same context as a built-in entry page."""
    in_feed: bool = True


@dataclass(frozen=True)
class AdminPage:
    """A GUI page a plugin adds: mounted at ``/admin/plugins/<plugin>/<path>`` behind the
    owner's login, listed on the Plugins page, and drawn inside the GUI's layout.

    ``render(request, csrf)`` returns the page's HTML body fragment, which the plugin must
    escape itself (``markupsafe``); its forms carry ``csrf`` (field ``csrf``) and post to the
    plugin's own ``register_routes`` routes, wrapped in ``homeport.gui.pages.page()`` for the
    GUI's login and CSRF checks."""

    path: str
    title: str
    render: Callable[[Request, str], Awaitable[str]]


@dataclass(frozen=True)
class Setting:
    """A setting a plugin reads: TOML key ``name`` in ``homeport.toml``, environment variable
    ``HOMEPORT_<NAME>``. Names must not clash with Homeport's or other plugins' settings."""

    name: str
    default: str | int | bool | tuple[str, ...] | None
    description: str
    secret: bool = False
    """Kept out of logs and ``--json`` output."""


__all__ = [
    "NAME_PATTERN",
    "AdminPage",
    "Connector",
    "ContentType",
    "ExportRequest",
    "ExportResult",
    "Exporter",
    "Identity",
    "ImportFailed",
    "ImportItem",
    "ImportRequest",
    "Importer",
    "ItemAction",
    "Setting",
    "SignInFailed",
]
