"""Whatever a stranger sends to the IndieAuth endpoints, the answer is a 2xx, 3xx or 4xx, never
a 5xx (hypothesis draws the fields; bounded examples, loopback only)."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport.testing.fake_ports import FakeProvider

FIELDS = [
    "grant_type",
    "code",
    "client_id",
    "redirect_uri",
    "code_verifier",
    "token",
    "action",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "scope",
    "me",
    "pending",
    "ticket",
    "credential",
]
TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "authorization_code",
            "S256",
            "code",
            "revoke",
            "http://a.localhost/",
            "a.b",
            "",
            "x" * 3000,
        ]
    ),
)
FORMS = st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=8)
PATHS = ["metadata", "auth", "auth/approve", "token", "introspect", "revoke", "userinfo", "passkey"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(PATHS),
    form=FORMS,
    as_json=st.booleans(),
    get=st.booleans(),
    bearer=st.one_of(st.none(), st.text(max_size=40)),
)
def test_no_5xx(
    served: FakeProvider,
    path: str,
    form: dict[str, str],
    as_json: bool,
    get: bool,
    bearer: str | None,
) -> None:
    if not served.sites.hosts:
        served.add_tenant("alice")
    url = f"http://alice.localhost:{served.port}/_homeport/indieauth/{path}"
    headers = {}
    if bearer and bearer.isprintable() and bearer.isascii() and bearer.strip() == bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    kw: dict[str, Any] = {"headers": headers, "timeout": 10}
    if get:
        answer = httpx.get(url, params=form, **kw)
    elif as_json:
        answer = httpx.post(url, json=form, **kw)
    else:
        answer = httpx.post(url, data=form, **kw)
    assert answer.status_code < 500, (path, form, answer.text[:300])
