"""The security tests reuse the provider's fixtures (a live provider on both engines, tenants,
homes that sign their own requests)."""

from tests.provider.conftest import (  # noqa: F401  (fixtures, found by name)
    alice,
    engine,
    provider_postgres,
    world,
)
