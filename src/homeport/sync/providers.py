"""The providers a home publishes through, and the use cases around them: enroll, publish to all
of them at once, status, restore from one, audit one, leave one.

The list lives in ``providers.json`` in the data dir, and what a restore needs of it (address,
tenant, site, order) in the signed repository too (``known.py``). Publishing runs one thread per
provider, each with its own repository connection, so a slow or dead provider never holds up the
others.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.handoff import Handoff
from homeport.crypto.keys import did_key, keys_from_phrase
from homeport.repo.codec import ObjectError, RepoKeys, check
from homeport.repo.repository import Repository, RepositoryError
from homeport.repo.verify import unreadable
from homeport.services import handoff
from homeport.services import identity as ids
from homeport.settings import SITES_DIR, Settings
from homeport.store.protocols import BlobStore, RecordStore
from homeport.sync import repair
from homeport.sync.client import Credentials, ProviderClient, ProviderError, normalise_url
from homeport.sync.drivers import push
from homeport.sync.engine import Progress, PushResult
from homeport.sync.fetching import ProviderCopy

if TYPE_CHECKING:
    from homeport.services import repository as repo_service

log = logging.getLogger("homeport.sync")

PROVIDERS_FILE = "providers.json"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ProvidersError(Exception):
    """A provider command that cannot run as asked; the message says what to do."""


HttpFactory = Callable[[], httpx.Client]


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one reads the CA bundle (30-50 ms here, more
    under load), and a publish opens a client per provider."""
    return httpx.create_ssl_context()


def default_http() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, verify=_tls())


def load(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / PROVIDERS_FILE
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text("utf-8"))
        return list(doc["providers"])
    except (ValueError, KeyError, TypeError):
        raise ProvidersError(f"{path} is damaged: not a providers list") from None


def save(data_dir: Path, providers: list[dict[str, Any]]) -> None:
    path = data_dir / PROVIDERS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"providers": providers}, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)


def credentials(data_dir: Path) -> Credentials:
    identity = ids.load(data_dir)
    key = Ed25519PrivateKey.from_private_bytes(ids.secret(data_dir, "signing.key"))
    return Credentials(identity.did, key)


def find(data_dir: Path, url: str) -> dict[str, Any]:
    wanted = normalise_url(url)
    for entry in load(data_dir):
        if entry["url"] == wanted:
            return entry
    raise ProvidersError(f"{wanted} is not one of this home's providers (homeport providers list)")


def add(
    settings: Settings, url: str, code: str, name: str | None, http: HttpFactory = default_http
) -> dict[str, Any]:
    from homeport.sync import known  # the store's write path, not a publish's

    data_dir = settings.data_dir
    identity = ids.load(data_dir)
    wanted = normalise_url(url)
    providers = load(data_dir)
    if any(p["url"] == wanted for p in providers):
        raise ProvidersError(f"already enrolled with {wanted}")
    with http() as client:
        answer = ProviderClient(wanted, credentials(data_dir), client).enroll(
            code, identity.operations, name
        )
    entry = {
        "url": wanted,
        "tenant": answer.get("tenant"),
        "site": answer.get("site"),
        "enrolled": int(time.time() * 1000),
    }
    save(data_dir, [*providers, entry])
    known.remember(settings, load(data_dir))
    return entry


def remove(
    settings: Settings, url: str, forget_only: bool = False, http: HttpFactory = default_http
) -> None:
    """Ask the provider to delete this home's data (a signed request), then forget it."""
    from homeport.sync import known  # the store's write path, not a publish's

    entry = find(settings.data_dir, url)
    if not forget_only:
        with http() as client:
            ProviderClient(entry["url"], credentials(settings.data_dir), client).delete()
    save(settings.data_dir, [p for p in load(settings.data_dir) if p["url"] != entry["url"]])
    known.remember(settings, load(settings.data_dir))


def set_rules(
    settings: Settings,
    url: str,
    exclude_tags: list[str] | None,
    exclude_types: list[str] | None,
    members_content: bool | None = None,
) -> dict[str, Any]:
    """What is not published at one provider (entries with these tags or of these types); the
    next publish builds that provider's site without them. ``members_content`` False withdraws
    the tiers' keys from it (it serves members-only entries' teasers only); None leaves that
    as it was, and exclusions given as None too stay as they were."""
    entry = find(settings.data_dir, url)
    before = entry.get("rules") or {}
    rules: dict[str, Any] = {
        "exclude_tags": sorted(
            set(exclude_tags if exclude_tags is not None else before.get("exclude_tags") or ())
        ),
        "exclude_types": sorted(
            set(exclude_types if exclude_types is not None else before.get("exclude_types") or ())
        ),
    }
    content = members_content if members_content is not None else before.get("members_content")
    if content is False:
        rules["members_content"] = False
    saved = load(settings.data_dir)
    for row in saved:
        if row["url"] == entry["url"]:
            if rules["exclude_tags"] or rules["exclude_types"] or content is False:
                row["rules"] = rules
            else:
                row.pop("rules", None)
    save(settings.data_dir, saved)
    return rules


def set_mirror(settings: Settings, url: str, on: bool, http: HttpFactory = default_http) -> str:
    """Tell one provider whether mirrors may keep a backup copy of this home; its address."""
    entry = find(settings.data_dir, url)
    with http() as client:
        ProviderClient(entry["url"], credentials(settings.data_dir), client).set_mirror(on)
    return str(entry["url"])


def make_first(settings: Settings, url: str) -> dict[str, Any]:
    """Put one provider first in the list: its address becomes the site's address (a new one
    moves the site's followers there with the next publish, ``sync/addresses.py``)."""
    from homeport.sync import known  # the store's write path, not a publish's

    data_dir = settings.data_dir
    entry = find(data_dir, url)
    entries = load(data_dir)
    save(data_dir, [entry, *(e for e in entries if e["url"] != entry["url"])])
    known.remember(settings, load(data_dir))
    return entry


def site_name(settings: Settings, site: str | None) -> str | None:
    """The site to publish: the one asked for, else the only one built."""
    root = settings.data_dir / SITES_DIR
    built = (
        sorted({p.name.split("@", 1)[0] for p in root.iterdir() if p.is_dir()})
        if root.is_dir()
        else []
    )
    if site is not None:
        if site not in built:
            raise ProvidersError(f"no built site named {site!r} (homeport build --site {site})")
        return site
    if len(built) > 1:
        raise ProvidersError(f"several sites are built ({', '.join(built)}): choose with --site")
    return built[0] if built else None


def variant_name(site: str, provider_url: str) -> str:
    """The folder of ``site`` as built for one provider: ``<site>@<host[:port]>``."""
    return f"{site}@{provider_url.split('://', 1)[-1]}"


@dataclass
class Outcome:
    url: str
    result: PushResult | None = None
    error: str | None = None
    cause: Exception | None = None
    """What failed, for a screen that says it in its own words (``error`` is its text)."""


def publish(
    settings: Settings,
    site: str | None = None,
    only: str | None = None,
    http: HttpFactory = default_http,
    progress: Callable[[str], Progress] | None = None,
) -> list[Outcome]:
    """Push the head to every provider at once (or just ``only``); one failure never stops the
    others, and each outcome says what happened. The grants go with ``sync_grants``, which
    ``publish.run`` calls after this."""
    data_dir = settings.data_dir
    providers = [find(data_dir, only)] if only else load(data_dir)
    if not providers:
        raise ProvidersError("no provider yet: homeport providers add URL CODE")
    identity = ids.load(data_dir)
    chosen = site_name(settings, site)
    creds = credentials(data_dir)
    keys = ids.repo_keys(data_dir)

    def variant(url: str) -> str | None:
        """The build made for this provider's address, if there is one (cli publish makes it)."""
        if chosen is None:
            return None
        name = variant_name(chosen, url)
        built = (data_dir / SITES_DIR / name).is_dir()
        return name if built else chosen

    held = _handoff_to_hand(data_dir)
    handed: dict[str, int] = {}
    checked: dict[str, str] = {}
    mend_home(settings, providers, creds, keys, http)

    def one(entry: dict[str, Any]) -> Outcome:
        url = entry["url"]
        try:
            repo = Repository.open(data_dir, keys)
            try:
                with http() as client:
                    if held is not None:  # a provider the move could not reach then
                        epoch = _hand_one(data_dir, entry, held, client)
                        if epoch is not None:
                            handed[url] = epoch
                    provider = ProviderClient(url, creds, client)
                    damaged = [bytes.fromhex(i) for i in entry.get("repair", [])]
                    damaged += _spot_check(repo, provider, entry, checked, settings)
                    result = push(
                        repo,
                        provider,
                        identity.operations,
                        variant(url),
                        progress=progress(url) if progress else None,
                        repair=damaged,
                    )
            finally:
                repo.close()
        except (ProviderError, RepositoryError, ObjectError, OSError) as exc:
            return Outcome(url, error=str(exc), cause=exc)
        return Outcome(url, result=result)

    with ThreadPoolExecutor(max_workers=len(providers)) as pool:
        outcomes = list(pool.map(one, providers))
    for outcome in outcomes:  # a provider said another copy is the primary: a standby now
        if isinstance(outcome.cause, ProviderError) and outcome.cause.handoff is not None:
            handoff.keep(data_dir, outcome.cause.handoff)
    stamp = int(time.time() * 1000)
    saved = load(data_dir)
    for entry in saved:
        for outcome in outcomes:
            if outcome.url == entry["url"] and outcome.result is not None:
                entry["last_publish"] = stamp
                entry["seq"] = outcome.result.seq
                entry["head"] = outcome.result.head
                entry.pop("repair", None)
                _note_check(entry, checked.get(outcome.url), stamp)
            if entry["url"] in handed:
                entry["handoff_epoch"] = handed[entry["url"]]
    save(data_dir, saved)
    return outcomes


def _note_check(entry: dict[str, Any], cursor: str | None, stamp: int) -> None:
    """Where the next slice starts and when this one was read (none read: both kept)."""
    if cursor is not None:
        entry["checked"] = cursor
        entry["checked_at"] = stamp


def _spot_check_due(entry: dict[str, Any], interval: int) -> bool:
    """A slice is read back at most each ``spot_check_interval_seconds``: at every publish it
    cost each publish a MiB on the wire, 84x of a no-change publish's bytes and 16 % more than
    a 1 % change's."""
    last = entry.get("checked_at")
    if not isinstance(last, int):
        return True
    return time.time() * 1000 - last >= interval * 1000


def _spot_check(
    repo: Repository,
    provider: ProviderClient,
    entry: dict[str, Any],
    checked: dict[str, str],
    settings: Settings,
) -> list[bytes]:
    """A slice of the provider's copy read back and checked when one is due (flipped bytes,
    moved index rows: ``repair.spot_check``); where the next one starts goes in ``checked``."""
    if not _spot_check_due(entry, settings.spot_check_interval_seconds):
        return []
    try:
        spotted, cursor = repair.spot_check(repo, provider, repair.cursor_of(entry.get("checked")))
    except ProviderError as exc:  # the push says what is wrong, if anything is
        log.info("spot check of %s skipped: %s", provider.url, exc)
        return []
    checked[provider.url] = cursor.hex()
    return spotted


def mend_home(
    settings: Settings,
    providers: list[dict[str, Any]],
    creds: Credentials,
    keys: RepoKeys | None,
    http: HttpFactory,
) -> repair.Mended:
    """Mend the home's damaged objects before a publish reads them: those whose packs the
    census finds gone or cut short, and those ``homeport verify`` recorded, fetched back from
    the providers that hold good copies. What none had stays recorded (``repair.json``)."""
    data_dir = settings.data_dir
    repo = Repository.open(data_dir, keys)
    try:
        damaged = list(dict.fromkeys([*unreadable(repo), *repair.recorded(data_dir)]))
        if not damaged:
            return repair.Mended()
        with http() as client:
            clients = [ProviderClient(p["url"], creds, client) for p in providers]
            mended = repair.fetch_back(repo, clients, damaged)
    finally:
        repo.close()
    repair.record(data_dir, mended.left, merge=False)
    for url, mine in mended.mended.items():
        log.warning("mended %d damaged objects of this home from %s", len(mine), url)
    if mended.left:
        log.warning(
            "%d damaged objects of this home are at no provider: 'homeport verify' names them",
            len(mended.left),
        )
    return mended


def repair_home(settings: Settings, http: HttpFactory = default_http) -> repair.Mended:
    """``homeport repair``: what ``mend_home`` does before a publish, at once."""
    providers = load(settings.data_dir)
    if not providers:
        raise ProvidersError("no provider to fetch good copies from: homeport providers add")
    keys = ids.repo_keys(settings.data_dir)
    return mend_home(settings, providers, credentials(settings.data_dir), keys, http)


def sync_grants(settings: Settings, only: str | None, http: HttpFactory) -> bool:
    """Every publish hands the providers the home's grants again (``grants.py``), so one that
    missed a change (it was down) catches up; a failure here never fails the publish. Whether
    every provider took them."""
    from homeport.sync import grants

    ok = True
    try:
        for pushed in grants.sync_blocking(settings, only, http):
            if pushed.error:
                ok = False
                log.warning("grants not handed to %s: %s", pushed.url, pushed.error)
    except Exception as exc:  # the store could not be read: the next publish tries again
        log.warning("grants not handed to the providers: %s", exc)
        return False
    return ok


def status(settings: Settings, http: HttpFactory = default_http) -> list[dict[str, Any]]:
    creds = credentials(settings.data_dir)
    rows = []
    with http() as client:
        for entry in load(settings.data_dir):
            row = dict(entry)
            try:
                row["remote"] = ProviderClient(entry["url"], creds, client).tenant()
                row["health"] = "ok"
            except ProviderError as exc:
                row["health"] = f"error: {exc}"
                row["error_code"], row["error_status"] = exc.code, exc.status
            rows.append(row)
    return rows


def rollback(settings: Settings, seq: int, http: HttpFactory = default_http) -> list[Outcome]:
    creds = credentials(settings.data_dir)
    outcomes = []
    with http() as client:
        for entry in load(settings.data_dir):
            try:
                ProviderClient(entry["url"], creds, client).rollback(seq)
                outcomes.append(Outcome(entry["url"]))
            except ProviderError as exc:
                outcomes.append(Outcome(entry["url"], error=str(exc)))
    return outcomes


class NotPrimary(ProvidersError):
    """This home holds the data, but another copy is the primary: it won the handoff first
    (``core/handoff.py``), or the move could not be finished; this home stays a standby."""


async def restore(
    settings: Settings,
    url: str,
    phrase: str,
    http: HttpFactory = default_http,
    store: RecordStore | None = None,
    blobs: BlobStore | None = None,
    where: str | None = None,
) -> repo_service.ImportOutcome:
    """Bring the home here from one provider with the phrase alone, and make this copy the
    primary: download the provider's bundle and import it (every hash and signature verified
    before anything is written; into an empty home, or moving a standby copy of the same home
    forward), then hand the provider a root-signed handoff naming this device's new key.
    Commits this copy made that the provider's history lacks (a standby's, made before it
    learned of the move) are set aside in a file (``outcome.set_aside``), not lost.
    ``NotPrimary`` when another copy became the primary first, or the provider did not take
    the handoff: the data is here, but this copy refuses writes until a retry wins."""
    from homeport.services import repository as repo_service

    keys = keys_from_phrase(phrase)
    did = did_key(keys.root.public_key())
    creds = Credentials(did, keys.root)
    wanted = normalise_url(url)
    existing = ids.exists(settings.data_dir)
    if existing and ids.load(settings.data_dir).did != did:
        raise ProvidersError("this home has another identity: restore into an empty home")
    with http() as client:
        # the provider's objects fetched several batches at a time (``fetching.py``) and
        # handed to the import as they arrive, which checks them like a bundle's; in threads:
        # a hosted home moving back downloads from the provider process it runs in, whose
        # event loop must stay free to answer
        provider = ProviderClient(wanted, creds, client)
        tenant = await asyncio.to_thread(provider.tenant)
        copy = await asyncio.to_thread(
            ProviderCopy, provider, tenant, RepoKeys(keys.data_key, keys.object_id_key)
        )
        outcome = await repo_service.import_bundle(
            settings, copy, phrase, store, blobs, set_aside=True
        )
    await asyncio.to_thread(_become_primary, settings, wanted, phrase, tenant, existing, where,
                            http)
    return outcome


def _become_primary(
    settings: Settings,
    wanted: str,
    phrase: str,
    tenant: dict[str, Any],
    existing: bool,
    where: str | None,
    http: HttpFactory,
) -> None:
    """After a restore's import: this copy's own key, the provider list, and the handoff
    taken by the provider restored from and handed to the others (blocking)."""
    from homeport.sync import known  # the store's write path, not a publish's

    keys = keys_from_phrase(phrase)
    # a key of its own for this copy, authorised after the log the provider holds (another
    # copy may have authorised keys since the last commit this bundle carries)
    held_log = tenant.get("operations")
    if isinstance(held_log, list) and held_log:
        ids.authorise_after(settings.data_dir, keys.root, held_log)
    elif existing:
        ids.rotate(settings.data_dir, phrase)
    entry = {
        "url": wanted,
        "tenant": tenant.get("name"),
        "site": tenant.get("site"),
        "enrolled": int(time.time() * 1000),
    }
    listed = _merged_list(load(settings.data_dir) if existing else [], known.recall(settings),
                          entry)
    save(settings.data_dir, listed)
    epoch = take_over(
        settings,
        wanted,
        keys.root,
        tenant.get("handoff"),
        where or f"a device (moved from {wanted})",
        http,
    )
    _mark_handed(settings.data_dir, {wanted: epoch})
    forward_handoff(settings, http)
    known.remember(settings, load(settings.data_dir))


def _merged_list(
    here: list[dict[str, Any]], recorded: list[dict[str, Any]], entry: dict[str, Any]
) -> list[dict[str, Any]]:
    """The providers a restored copy publishes to: this copy's own list (a standby moving
    forward) or else the one the repository recorded, in its order (the first one's address is
    the site's), with ``entry`` (the provider restored from) fresh in its place or first, and
    any recorded provider this copy did not know added at the end."""
    from homeport.sync import known  # the store's write path, not a publish's

    base = [dict(p) for p in (here or recorded)]
    urls = [p["url"] for p in base]
    if entry["url"] in urls:
        base[urls.index(entry["url"])] = {**base[urls.index(entry["url"])], **entry}
    else:
        base.insert(0, entry)
    seen = {p["url"] for p in base}
    for p in recorded:
        if p["url"] not in seen:
            base.append({k: p.get(k) for k in known.FIELDS})
            seen.add(p["url"])
    return base


def _mark_handed(data_dir: Path, handed: dict[str, int]) -> None:
    """Note which providers took which handoff epoch (``handoff_epoch`` in their entry)."""
    if not handed:
        return
    saved = load(data_dir)
    for row in saved:
        if row["url"] in handed:
            row["handoff_epoch"] = handed[row["url"]]
    save(data_dir, saved)


def _handoff_to_hand(data_dir: Path) -> Handoff | None:
    """The handoff this copy holds when it names this copy as the primary (the record it hands
    to providers that have not taken it yet); None otherwise."""
    held = handoff.load(data_dir)
    if held is None or held.primary != ids.load(data_dir).signing_key:
        return None
    return held


def _hand_one(
    data_dir: Path, entry: dict[str, Any], held: Handoff, client: httpx.Client
) -> int | None:
    """Hand ``held`` to one provider that has not taken it (signed by this copy's key, which
    the identity log sent with it puts in force there); its epoch once taken, None when the
    provider already had it. A provider holding a later handoff makes this copy a standby."""
    if entry.get("handoff_epoch") == held.epoch:
        return None
    identity = ids.load(data_dir)
    try:
        ProviderClient(entry["url"], credentials(data_dir), client).handoff(
            held.doc, identity.operations
        )
    except ProviderError as exc:
        if exc.handoff is not None:
            handoff.keep(data_dir, exc.handoff)
        raise
    return int(held.epoch)


def forward_handoff(settings: Settings, http: HttpFactory = default_http) -> dict[str, str]:
    """Hand this copy's handoff to every provider in its list that has not taken it, so none
    of them takes the old copy's publishes any more; a provider that cannot be reached now is
    handed it before this copy's next publish there. What failed, by address."""
    data_dir = settings.data_dir
    held = _handoff_to_hand(data_dir)
    if held is None:
        return {}
    handed: dict[str, int] = {}
    failed: dict[str, str] = {}
    with http() as client:
        for entry in load(data_dir):
            try:
                epoch = _hand_one(data_dir, entry, held, client)
            except (ProviderError, httpx.HTTPError, OSError) as exc:
                log.warning("the handoff was not handed to %s yet: %s", entry["url"], exc)
                failed[entry["url"]] = str(exc)
                continue
            if epoch is not None:
                handed[entry["url"]] = epoch
    _mark_handed(data_dir, handed)
    return failed


def take_over(
    settings: Settings,
    url: str,
    root: Ed25519PrivateKey,
    held: Any,
    where: str | None = None,
    http: HttpFactory = default_http,
) -> int:
    """Sign a handoff one epoch above ``held`` (what the provider holds) naming this home's
    signing key, and hand it to the provider with the identity log that authorises that key;
    the epoch, once the provider took it. Until then this copy refuses writes (the pending
    mark), so an interrupted move never leaves two copies writing."""
    data_dir = settings.data_dir
    identity = ids.load(data_dir)
    if isinstance(held, dict):
        handoff.keep(data_dir, held)
    epoch = (held.get("epoch") if isinstance(held, dict) else 0) or 0
    record = handoff.signed(root, int(epoch) + 1, identity.signing_key, where or "a device")
    handoff.mark_pending(data_dir, record)
    try:
        with http() as client:  # the root's act: the root signs the request too
            ProviderClient(url, Credentials(identity.did, root), client).handoff(
                record, identity.operations
            )
    except ProviderError as exc:
        if exc.handoff is not None:
            handoff.keep(data_dir, exc.handoff)
            handoff.clear_pending(data_dir)
        raise NotPrimary(
            f"{exc}. This copy has the data but stays a standby; "
            + (
                "make changes where the home lives."
                if exc.code == "stale-handoff"
                else f"try again with: homeport restore --from {url}"
            )
        ) from None
    handoff.keep(data_dir, record)
    handoff.clear_pending(data_dir)
    return int(record["epoch"])


@dataclass
class Audit:
    url: str
    head: str | None
    checked: int
    problems: list[str]


def audit(settings: Settings, url: str, http: HttpFactory = default_http) -> Audit:
    """Walk the provider's live commit object by object, fetching each and checking it against
    its id (private ones opened with this home's keys); name what is missing or wrong."""
    entry = find(settings.data_dir, url)
    keys = ids.repo_keys(settings.data_dir)
    creds = credentials(settings.data_dir)
    problems: list[str] = []
    damaged: list[bytes] = []
    checked = 0
    with http() as client:
        provider = ProviderClient(entry["url"], creds, client)
        head = provider.tenant().get("head")
        if not head:
            return Audit(entry["url"], None, 0, ["the provider holds no commit for this home"])
        frontier = [bytes.fromhex(head)]
        seen: set[bytes] = set(frontier)
        while frontier and len(problems) < 20:
            batch, frontier = frontier[:2000], frontier[2000:]
            got = provider.fetch(batch)
            for oid in batch:
                stored = got.get(oid)
                if stored is None:
                    problems.append(f"object {oid.hex()[:16]} is missing at the provider")
                    damaged.append(oid)
                    continue
                checked += 1
                try:
                    header = check(oid, stored, keys)
                except ObjectError as exc:
                    problems.append(f"{exc} (at the provider)")
                    damaged.append(oid)
                    continue
                for link in header.links:
                    if link not in seen:
                        seen.add(link)
                        frontier.append(link)
    if damaged:  # the next publish sends these again
        saved = load(settings.data_dir)
        for row in saved:
            if row["url"] == entry["url"]:
                row["repair"] = sorted({*row.get("repair", []), *(d.hex() for d in damaged)})
        save(settings.data_dir, saved)
    return Audit(entry["url"], head, checked, problems)
