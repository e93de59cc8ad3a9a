"""The audiences a request may sign for, from the ASGI scope: a server without a port (httpx's
ASGI transport on a default port) or on a unix socket was a 500 (``int(None)``)."""

from __future__ import annotations

from pathlib import Path

from homeport.provider.audience import accepted
from homeport.settings import Settings


def test_the_socket_address_with_and_without_a_port(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, base_domain="example.test")
    scope = {"server": ("127.0.0.1", 8760), "scheme": "http", "headers": []}
    assert accepted(settings, (), scope) == {
        "https://example.test:443",
        "http://127.0.0.1:8760",
        "http://localhost:8760",
    }
    no_port = accepted(settings, (), {"server": ("testserver", None), "scheme": "http"})
    assert "http://testserver:80" in no_port
    unix = accepted(settings, (), {"server": ("/run/homeport.sock", None), "scheme": "http"})
    assert unix == accepted(settings, (), {})  # only the base domain
