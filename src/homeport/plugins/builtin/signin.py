"""Sign-in connectors Homeport ships, registered like any plugin's: OpenID Connect when
``oidc_issuer`` (or the ``google`` preset), ``oidc_client_id`` and ``oidc_client_secret`` are
set (the ``github`` preset is OAuth 2 and GitHub's user API instead); IndieAuth (sign in
with your website) when ``signin_indieauth`` is on; the owner's passkeys when
``signin_passkey`` is; a mailed link when
``signin_email`` and ``smtp_url`` are. Which of the people they vouch for may use the GUI as
the owner is ``signin_owners``."""

from __future__ import annotations

from homeport.plugins import hookimpl
from homeport.plugins.kinds import Connector, Setting
from homeport.plugins.manager import setting
from homeport.settings import Settings

PRESETS: dict[str, tuple[str, str, str]] = {
    "google": ("https://accounts.google.com", "google", "Sign in with Google"),
}
"""``oidc_preset`` → (issuer, connector name, button words)."""


@hookimpl
def register_settings() -> list[Setting]:
    return [
        Setting("oidc_issuer", "", "The OpenID Connect issuer's URL (its discovery document is "
                "at <issuer>/.well-known/openid-configuration)."),
        Setting("oidc_preset", "", "A known issuer instead of oidc_issuer: google, or github "
                "(OAuth 2 and GitHub's user API: GitHub issues no ID tokens)."),
        Setting("github_url", "https://github.com", "With oidc_preset = github: GitHub's "
                "web address (a GitHub Enterprise Server's, for instance)."),
        Setting("github_api_url", "https://api.github.com", "With oidc_preset = github: "
                "GitHub's REST API address."),
        Setting("oidc_client_id", "", "The client id Homeport is registered with at the issuer."),
        Setting("oidc_client_secret", "", "That client's secret.", secret=True),
        Setting("oidc_name", "", "The connector's name and principal prefix (default: oidc, "
                "or the preset's name): people are <name>:<subject>."),
        Setting("oidc_title", "", "The sign-in button's words."),
        Setting("oidc_audiences", (), "Other client ids whose tokens /v1 accepts from the "
                "issuer (API clients registered there); the client id is always accepted."),
        Setting("oidc_opaque_tokens", False, "Accept opaque (non-JWT) access tokens from the "
                "issuer on /v1, checked at its userinfo endpoint (answers kept a minute)."),
        Setting("signin_indieauth", False, "Offer sign-in with your website (IndieAuth; "
                "principal indieauth:<site URL>)."),
        Setting("signin_passkey", False, "Offer the owner's login with a passkey (added on "
                "the GUI's Passkeys page while logged in)."),
        Setting("signin_email", False, "Offer sign-in by a link mailed through smtp_url "
                "(principal email:<address>)."),
        Setting("signin_email_from", "homeport@localhost", "The sign-in mails' sender, when "
                "smtp_url names none."),
        Setting("signin_owners", (), "Principals (like oidc:<subject>) that may sign in to "
                "the GUI as the owner through a connector."),
    ]


@hookimpl
def register_connectors(settings: Settings) -> list[Connector]:
    # the connectors (JOSE, WebAuthn, OAuth…) imported when the GUI asks, not by every process
    # that loads the plugins (a publish)
    from homeport.plugins.connectors.email_link import EmailLink, key_of
    from homeport.plugins.connectors.github import GitHub
    from homeport.plugins.connectors.indieauth import IndieAuth
    from homeport.plugins.connectors.oidc import OpenIDConnect
    from homeport.plugins.connectors.passkey import OwnerPasskeys
    from homeport.web import outbound

    found: list[Connector] = []
    preset = str(setting(settings, "oidc_preset") or "")
    issuer, name, title = PRESETS.get(preset, ("", "oidc", "Sign in with OpenID Connect"))
    issuer = str(setting(settings, "oidc_issuer") or issuer)
    client_id = str(setting(settings, "oidc_client_id") or "")
    if preset == "github" and client_id:
        found.append(GitHub(
            client_id=client_id,
            client_secret=str(setting(settings, "oidc_client_secret") or ""),
            name=str(setting(settings, "oidc_name") or "github"),
            title=str(setting(settings, "oidc_title") or "Sign in with GitHub"),
            web=str(setting(settings, "github_url")), api=str(setting(settings,
                                                                      "github_api_url")),
        ))
    elif issuer and client_id:
        found.append(OpenIDConnect(
            issuer=issuer, client_id=client_id,
            client_secret=str(setting(settings, "oidc_client_secret") or ""),
            name=str(setting(settings, "oidc_name") or name),
            title=str(setting(settings, "oidc_title") or title),
            audiences=tuple(setting(settings, "oidc_audiences")),
            opaque_tokens=bool(setting(settings, "oidc_opaque_tokens")),
        ))
    if setting(settings, "signin_indieauth"):
        found.append(IndieAuth(permitted=outbound.policy(settings.fetch_allow_private)))
    if setting(settings, "signin_passkey"):
        found.append(OwnerPasskeys(key_of(settings.data_dir)))
    if setting(settings, "signin_email") and settings.smtp_url:
        found.append(EmailLink(settings.smtp_url, key_of(settings.data_dir),
                               sender=str(setting(settings, "signin_email_from"))))
    return found
