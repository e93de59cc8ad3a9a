"""Many writers in one collection at once, on both backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .conftest import HomeFactory

WRITERS = 8
RECORDS_EACH = 50
RECORDS = "/buckets/b/collections/c/records"


def test_eight_writers_create_400_records_with_distinct_timestamps(
    home: HomeFactory, backend_env: dict[str, str]
) -> None:
    h = home(backend_env)
    with h.client() as c:
        assert c.put("/buckets/b").status_code == 201
        assert c.put("/buckets/b/collections/c").status_code == 201

    def writer(n: int) -> list[str]:
        errors = []
        with h.client() as client:
            for i in range(RECORDS_EACH):
                r = client.post(RECORDS, json={"data": {"writer": n, "i": i}})
                if r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text}")
        return errors

    with ThreadPoolExecutor(WRITERS) as pool:
        errors = [e for found in pool.map(writer, range(WRITERS)) for e in found]
    assert errors == []
    with h.client() as c:
        r = c.get(RECORDS, params={"_limit": 1000})
    records = r.json()["data"]
    assert len(records) == WRITERS * RECORDS_EACH
    assert len({rec["last_modified"] for rec in records}) == WRITERS * RECORDS_EACH
    assert "Traceback" not in h.output()
