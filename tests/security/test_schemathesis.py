"""The OpenAPI document is a valid, true description of /v1, and requests generated from it
never get a 5xx.

schemathesis reads ``/v1/__api__`` from a live home (tests/api's ``server``: real uvicorn on
loopback, SQLite and PostgreSQL) and sends what it generates, valid and invalid, as ``admin``.
Every answer must be below 500 (``not_a_server_error``); an answer the document declares must
match its schema (``response_schema_conformance``, ``status_code_conformance``…).

Seeded and bounded for CI: ``HOMEPORT_SCHEMATHESIS_EXAMPLES`` examples per operation (default
10, about a minute per backend on two cores); raise it to search harder locally, e.g.
``HOMEPORT_SCHEMATHESIS_EXAMPLES=500 pytest tests/security/test_schemathesis.py``.
``HOMEPORT_SCHEMATHESIS_SEED`` changes the seed (default 0).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from homeport.api.openapi import openapi_document
from homeport.testing.targets import Server

EXAMPLES = int(os.environ.get("HOMEPORT_SCHEMATHESIS_EXAMPLES", "10"))
SEED = int(os.environ.get("HOMEPORT_SCHEMATHESIS_SEED", "0"))
SKIPPED_OPERATIONS = {
    "changes": "a server-sent event stream never ends by itself",
    "post_flush": "it would empty the server under the other examples",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def home(server: Server) -> Server:
    if server.is_kinto:
        pytest.skip("Kinto documents its API in Swagger 2 with cornice; this checks Homeport's")
    return server


@pytest.fixture(scope="module")
def document(home: Server) -> dict[str, Any]:
    r = httpx.get(home.url + "/__api__", timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_every_path_parameter_is_declared(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, op in operations.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_bodies_and_errors_are_described(document: dict[str, Any]) -> None:
    records = document["paths"]["/buckets/{bucket_id}/collections/{collection_id}/records"]
    assert {"_limit", "_sort", "_since", "_before", "_token", "_fields", "filters"} <= {
        p["name"] for p in records["get"]["parameters"]
    }
    record = document["paths"]["/buckets/{bucket_id}/collections/{collection_id}/records/{id}"]
    assert set(record["patch"]["requestBody"]["content"]) == {
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
    }
    attach = document["paths"][
        "/buckets/{bucket_id}/collections/{collection_id}/records/{id}/attachment"
    ]
    assert "multipart/form-data" in attach["post"]["requestBody"]["content"]
    for operations in document["paths"].values():
        for op in operations.values():
            assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    assert document["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"


OPERATION_IDS = [
    op["operationId"]
    for path in openapi_document()["paths"].values()
    for op in path.values()
    if op["operationId"] not in SKIPPED_OPERATIONS
]


AIM = {"bucket_id": "b", "collection_id": "c"}
"""Valid requests go to this bucket and collection (re-created before each operation), so they
reach the handlers instead of stopping at a 404; invalid ones fuzz the path too."""


@pytest.fixture(scope="module")
def operations(home: Server) -> dict[str, Any]:
    """The document as the live home serves it, by operationId."""
    loaded = schemathesis.openapi.from_url(home.url + "/__api__")
    found = [result.ok() for result in loaded.get_all_operations()]
    return {op.definition.raw["operationId"]: op for op in found}


def _failures(home: Server, operation: Any, mode: GenerationMode) -> list[str]:
    """Run ``EXAMPLES`` generated requests of one operation; the failures, one line each."""
    failures: list[str] = []

    names = {p.name for p in operation.path_parameters}
    aim = {k: v for k, v in AIM.items() if k in names} if mode is GenerationMode.POSITIVE else {}
    admin = home.client("admin")
    admin.put("/buckets/b")
    admin.put("/buckets/b/collections/c")

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=aim or None))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED == 0,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=home.url, auth=home.admin, timeout=10, checks=CHECKS)
        except AssertionError as exc:  # schemathesis' FailureGroup is one
            failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:800]}")

    if SEED:
        run = seed(SEED)(run)
    try:
        run()
    except Unsatisfiable:  # nothing in this operation can be made invalid (GET /, say)
        assert mode is GenerationMode.NEGATIVE
    return failures


def test_every_operation_is_fuzzed(operations: dict[str, Any]) -> None:
    assert set(OPERATION_IDS) | set(SKIPPED_OPERATIONS) == set(operations)


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_no_server_error(home: Server, operations: dict[str, Any], operation_id: str) -> None:
    """One operation, with valid and then invalid input."""
    operation = operations[operation_id]
    failures = [
        failure
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in _failures(home, operation, mode)
    ]
    assert not failures, "\n\n".join(failures[:10]) + f"\n\n{len(failures)} failures"
