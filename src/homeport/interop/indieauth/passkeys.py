"""Passkeys (WebAuthn, through the ``webauthn`` package) as the provider uses them.

A credential is bound to the host it was made on (the RP ID), so the owner registers the
passkey on the provider's page for the site's own host, and the public key goes home, where it
is signed into a ``passkey`` delegation. The provider keeps nothing of it but what that
delegation says; an assertion is checked against the delegation in force at that moment.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import exceptions as webauthn_errors
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from homeport import jsonio

POWER = "passkey"
REGISTER_POWER = "passkey-register"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PasskeyError(ValueError):
    """An assertion or registration that does not verify; the message says why."""


@dataclass(frozen=True)
class Passkey:
    """One credential as a ``passkey`` delegation names it."""

    credential_id: str
    """base64url"""
    public_key: str
    """base64url of the COSE key"""
    rp_id: str


def rp_id(origin: str) -> str:
    """The WebAuthn RP ID of a site: its host name, without port."""
    return urlsplit(origin).hostname or ""


def from_params(params: Mapping[str, Any]) -> list[Passkey]:
    """The credentials a delegation's params name: ``{"credentials": [{…}, …]}`` or one
    ``{"credential_id", "public_key", "rp_id"}``; malformed entries are skipped."""
    raw = params.get("credentials")
    entries = raw if isinstance(raw, list) else [params]
    found = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        cid, key, rp = entry.get("credential_id"), entry.get("public_key"), entry.get("rp_id")
        if isinstance(cid, str) and isinstance(key, str) and isinstance(rp, str):
            found.append(Passkey(cid, key, rp))
    return found


def registration_options(origin: str, tenant: str, challenge: bytes) -> str:
    """``PublicKeyCredentialCreationOptions`` as JSON for the page's script."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id(origin),
        rp_name=urlsplit(origin).netloc,
        user_name=tenant,
        user_id=tenant.encode(),
        user_display_name=f"Owner of {urlsplit(origin).netloc}",
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return webauthn.options_to_json(options)


def member_registration_options(origin: str, email: str, user_id: bytes, challenge: bytes
                                ) -> str:
    """Options for a site member's passkey: discoverable, so they sign in without typing."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id(origin),
        rp_name=urlsplit(origin).netloc,
        user_name=email,
        user_id=user_id,
        user_display_name=email,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return webauthn.options_to_json(options)


def verify_registration(credential: Any, origin: str, challenge: bytes) -> Passkey:
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(origin),
            expected_origin=origin,
        )
    except (webauthn_errors.InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"the passkey could not be registered: {exc}") from None
    return Passkey(b64(verified.credential_id), b64(verified.credential_public_key), rp_id(origin))


def authentication_options(origin: str, keys: list[Passkey], challenge: bytes) -> str:
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(origin),
        challenge=challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=unb64(k.credential_id)) for k in keys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(options)


def verify_assertion(
    credential: Any, origin: str, keys: list[Passkey], challenge: bytes
) -> Passkey:
    """The passkey that signed ``credential`` for ``challenge`` on ``origin``."""
    if not isinstance(credential, Mapping) or not isinstance(credential.get("id"), str):
        raise PasskeyError("no passkey assertion was sent")
    used = [k for k in keys if k.credential_id == credential["id"].rstrip("=")]
    if not used:
        raise PasskeyError("this passkey is not one the site's owner delegated here")
    key = used[0]
    if key.rp_id != rp_id(origin):
        raise PasskeyError("this passkey was made for another host")
    try:
        webauthn.verify_authentication_response(
            credential=jsonio.dumps_text(credential),
            expected_challenge=challenge,
            expected_rp_id=key.rp_id,
            expected_origin=origin,
            credential_public_key=unb64(key.public_key),
            credential_current_sign_count=0,
        )
    except (webauthn_errors.InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(f"the passkey's signature does not verify: {exc}") from None
    return key
