"""Every TenantStore (the provider's tenant registry) against the shipped conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.provider.db import ProviderDB
from homeport.provider.tenantstore import MemoryTenants, TenantStore
from homeport.testing.conformance_tenants import TenantStoreConformance


class TestMemoryTenants(TenantStoreConformance):
    @pytest.fixture
    def tenants(self) -> TenantStore:
        return MemoryTenants()


class TestSqliteTenants(TenantStoreConformance):
    @pytest.fixture
    def tenants(self, tmp_path: Path) -> Iterator[TenantStore]:
        db = ProviderDB(tmp_path)
        yield db
        db.close()


@pytest.mark.postgres
class TestPostgresTenants(TenantStoreConformance):
    @pytest.fixture
    def tenants(self, tmp_path: Path, fresh_postgres_url: str) -> Iterator[TenantStore]:
        db = ProviderDB(tmp_path, fresh_postgres_url)
        yield db
        db.close()
