"""What the live-web protocols (``homeport.interop``) reach the provider through: its tenants'
inboxes, grants and sites, as ``interop.ports.ProviderPorts`` on ``app.state.ports``."""

from __future__ import annotations

from collections.abc import Callable

from homeport.interop.ports import ProviderPorts, TenantRef
from homeport.provider.db import ACTIVE, ProviderDB
from homeport.provider.deliveries import ProviderDeliveries
from homeport.provider.followers import ProviderFollowers
from homeport.provider.grants import ProviderGrants
from homeport.provider.hosts import host_of
from homeport.provider.inbox import ProviderInbox
from homeport.provider.members import PendingPasskeys, ProviderMembers
from homeport.provider.mentions import ProviderMentions
from homeport.provider.newsletter import ProviderSuppressions
from homeport.provider.onetime import ProviderOnce
from homeport.provider.payments import ProviderPayments
from homeport.provider.rates import ProviderRates
from homeport.provider.serve import SiteServer
from homeport.provider.websub import ProviderSubscriptions
from homeport.settings import Settings


class ProviderSites:
    """``ports.Sites``: tenants by Host with the site server's own rule and cache, and what
    their live sites serve."""

    def __init__(self, db: ProviderDB, site: SiteServer, base_domain: str) -> None:
        self.db = db
        self.site = site
        self.base = base_domain.lower().strip(".")

    def tenant_for_host(self, host: str) -> TenantRef | None:
        """Only an active tenant: a suspended or deleted one takes no requests. The origin is
        the address the request named (``https://<name>.<base domain>`` or the verified
        custom domain), as the site's own links are written."""
        name = host_of(host)
        tenant = self.site.hosts.tenant(name)
        if tenant is None or tenant.state != ACTIVE:
            return None
        return TenantRef(name=tenant.name, did=tenant.did, origin=f"https://{name}")

    def live_path(self, tenant: str, path: str) -> bool:
        """Whether ``path`` is served with 200 (a file, or a folder's ``index.html``)."""
        if "\0" in path or ".." in path.split("/"):
            return False
        tree = self.site._tree(tenant)
        if tree is None:
            return False
        rel = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        files = tree.manifest.files
        if rel == "" or rel.endswith("/"):
            return rel + "index.html" in files
        return rel in files or f"{rel}/index.html" in files

    def live_file(self, tenant: str, rel: str, limit: int) -> bytes | None:
        tree = self.site._tree(tenant)
        if tree is None or rel not in tree.manifest.files:
            return None
        try:
            return self.site.sites.read(tenant, tree.manifest, rel, limit)
        except (OSError, ValueError):  # unreadable now (a fetch that failed): not there
            return None


def _published(db: ProviderDB) -> Callable[[str], int | None]:
    def last_publish(tenant: str) -> int | None:
        found = db.tenant(tenant)
        return None if found is None else found.last_publish

    return last_publish


def _did_of(db: ProviderDB) -> Callable[[str], str | None]:
    def did_of(tenant: str) -> str | None:
        found = db.tenant(tenant)
        return None if found is None else found.did

    return did_of


def make_ports(
    settings: Settings, db: ProviderDB, site: SiteServer, clock: Callable[[], int]
) -> ProviderPorts:
    payments = ProviderPayments(db)
    inbox = ProviderInbox(db, settings.inbox_max_items, settings.inbox_max_bytes, clock)
    grants = ProviderGrants(db, settings, clock, inbox=inbox)
    return ProviderPorts(
        inbox=inbox,
        grants=grants,
        sites=ProviderSites(db, site, settings.base_domain),
        clock=clock,
        fetch_allow_private=settings.fetch_allow_private,
        mentions=ProviderMentions(db, settings.webmention_rate_limit),
        tokens=grants,
        once=ProviderOnce(db, settings.data_dir, clock, settings.provider_secret),
        subscriptions=ProviderSubscriptions(db),
        followers=ProviderFollowers(db),
        members=ProviderMembers(site, clock, payments=payments, published=_published(db),
                                pending=PendingPasskeys(db), did_of=_did_of(db)),
        smtp_url=settings.smtp_url,
        payments=payments,
        stripe_api_base=settings.stripe_api_base,
        deliveries=ProviderDeliveries(db, settings.activitypub_queue_limit),
        suppressions=ProviderSuppressions(db),
        rates=ProviderRates(db),
    )


__all__ = ["ProviderSites", "make_ports"]
