"""Contract tests: the shipped conformance suites, run against every backend."""

import pytest

# The suites live in the package, not under tests/: ask pytest to rewrite their asserts so a
# failing check shows the compared values.
pytest.register_assert_rewrite(
    "homeport.testing.conformance",
    "homeport.testing.conformance_blobs",
    "homeport.testing.conformance_objects",
    "homeport.testing.conformance_permissions",
    "homeport.testing.conformance_sites",
    "homeport.testing.conformance_tenants",
)
