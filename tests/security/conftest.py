"""The security tests reuse the provider's fixtures (a live provider on both engines, tenants,
homes that sign their own requests) and tests/api's (``server``: a live home on SQLite and
PostgreSQL for the session, or Kinto 26.5 with ``HOMEPORT_API_TARGET=kinto``; a module that
needs it empty flushes it itself)."""

from tests.api.conftest import (  # noqa: F401  (fixtures, found by name)
    admin,
    server,
)
from tests.provider.conftest import (  # noqa: F401  (fixtures, found by name)
    alice,
    engine,
    provider_postgres,
    world,
)
