"""The security tests reuse the provider's fixtures (a live provider on both engines, tenants,
homes that sign their own requests) and tests/api's (a live home on SQLite and PostgreSQL,
flushed before each test that uses it, or Kinto 26.5 with ``HOMEPORT_API_TARGET=kinto``)."""

from tests.api.conftest import (  # noqa: F401  (fixtures, found by name)
    _clean_server,
    admin,
    server,
)
from tests.provider.conftest import (  # noqa: F401  (fixtures, found by name)
    alice,
    engine,
    provider_postgres,
    world,
)
