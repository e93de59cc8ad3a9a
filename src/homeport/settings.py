"""Settings: defaults < the data dir's ``homeport.toml`` < ``HOMEPORT_*`` environment < flags.

Names follow Kinto's where Kinto has the setting (``paginate_by``, ``batch_max_requests``,
``bucket_create_principals``…), so a Kinto operator finds their way.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

CONFIG_FILE = "homeport.toml"
SITES_DIR = "sites"
"""Where ``homeport build`` writes each site in the data dir (``render.build.default_out_dir``)."""


class SettingsError(ValueError):
    """A setting that cannot be read; the message names it and says what is expected."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8750
    storage_url: str = ""
    paginate_by: int | None = None
    storage_max_fetch_size: int = 10000
    batch_max_requests: int = 25
    bucket_create_principals: tuple[str, ...] = ("system.Authenticated",)
    account_create_principals: tuple[str, ...] = ()
    account_write_principals: tuple[str, ...] = ("account:admin",)
    admin_password: str | None = field(default=None, repr=False)
    account_cache_ttl_seconds: int = 30
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    flush_endpoint: bool = False
    max_json_bytes: int = 10 * 1024 * 1024
    max_attachment_bytes: int = 1024 * 1024 * 1024
    attachment_extensions: str = "default"
    tombstone_retention_seconds: int = 30 * 24 * 3600
    log_level: str = "info"
    lan_access: bool = False
    open_browser: bool = True
    auto_publish: bool = True
    allowed_hosts: tuple[str, ...] = ()
    base_domain: str = ""
    provider_port: int = 8760
    provider_public_url: tuple[str, ...] = ()
    fetch_allow_private: bool = False
    webmention_rate_limit: int = 30
    mentions_auto_approve: bool = False
    mentions_trusted_domains: tuple[str, ...] = ()
    keep_commits: int = 20
    gc_interval_seconds: int = 24 * 3600
    gc_grace_seconds: int = 3600
    spot_check_interval_seconds: int = 3600
    invite_quota: int = 5_000_000_000
    operator_password: str | None = field(default=None, repr=False)
    provider_database: str = field(default="", repr=False)
    provider_sites: str = "local"
    provider_secret: str = field(default="", repr=False)
    provider_site_cache_mb: int = 1024
    provider_body_cache_mb: int = 64
    provider_lock_connections: int = 32
    objects: str = ""
    """provider: where tenants' pack files go (``s3://BUCKET?endpoint=URL``, a directory);
    empty: each tenant's own ``packs/`` directory under the data dir."""
    inbox_max_items: int = 50_000
    inbox_max_bytes: int = 256 * 1024 * 1024
    inbox_relay: bool = True
    plugins: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Raw values for plugins' settings: the TOML table ``[plugins]`` and every
    ``HOMEPORT_<NAME>`` variable that is not one of Homeport's; read through
    ``plugins.manager.setting``, which knows each one's type."""
    stripe_api_base: str = "https://api.stripe.com"
    activitypub_inbox_rate: int = 600
    activitypub_delivery_rate: int = 1000
    activitypub_queue_limit: int = 200_000
    hosted_homes: bool = False
    hosted_signup: str = "invite"
    hosted: bool = False
    smtp_url: str = field(default="", repr=False)
    bounce_address: str = ""
    bounce_listen: str = ""

    @property
    def record_store_url(self) -> str:
        return self.storage_url or f"sqlite:///{self.data_dir / 'homeport.sqlite'}"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def public_settings(self) -> dict[str, Any]:
        """What ``GET /v1/`` shows, as Kinto does."""
        return {
            "batch_max_requests": self.batch_max_requests,
            "readonly": False,
            "explicit_permissions": True,
        }


def default_data_dir() -> Path:
    env = os.environ.get("HOMEPORT_DATA")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("homeport", appauthor=False))


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    text = str(kind)
    try:
        if "tuple" in text:
            if isinstance(raw, str):
                return tuple(p for p in raw.replace(",", " ").split() if p)
            return tuple(str(p) for p in raw)
        if "bool" in text:
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if "int" in text:
            if raw in (None, "", "none", "None") and "None" in text:
                return None
            number = int(raw)
            if number < 0:
                raise ValueError(raw)
            return number
        if "Path" in text:
            return Path(str(raw))
        return None if raw is None else str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name!r}: cannot read {raw!r} as {text}") from None


def coerce(name: str, raw: Any, kind: str) -> Any:
    """``raw`` (from TOML or the environment) read as ``kind`` (``"bool"``, ``"int"``,
    ``"tuple"``, ``"str | None"``), as Homeport's own settings are: for plugins' settings."""
    return _coerce(name, raw, kind)


def load_settings(data_dir: Path | None = None, **flags: Any) -> Settings:
    """Build settings for a data dir, reading its TOML file and the environment."""
    directory = Path(data_dir) if data_dir else default_data_dir()
    values: dict[str, Any] = {}
    plugin_values: dict[str, Any] = {}
    types = {f.name: f.type for f in dataclasses.fields(Settings) if f.name != "plugins"}
    config = directory / CONFIG_FILE
    if config.is_file():
        try:
            loaded: Mapping[str, Any] = tomllib.loads(config.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{config}: not valid TOML ({exc})") from None
        for key, raw in loaded.items():
            if key == "plugins" and isinstance(raw, dict):
                plugin_values.update(raw)
                continue
            if key not in types or key == "data_dir":
                raise SettingsError(f"{config}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, types[key])
    for key, kind in types.items():
        env = os.environ.get(f"HOMEPORT_{key.upper()}")
        if env is not None and key != "data_dir":
            values[key] = _coerce(key, env, kind)
    for name, env in os.environ.items():
        key = name[len("HOMEPORT_"):].lower()
        if name.startswith("HOMEPORT_") and key not in types and key != "plugins":
            plugin_values[key] = env
    for key, raw in flags.items():
        if raw is not None:
            values[key] = _coerce(key, raw, types[key])
    return Settings(data_dir=directory, plugins=plugin_values, **values)
