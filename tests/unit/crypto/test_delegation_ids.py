"""A grant's id is its record's id at home: every one must pass Kinto's id rule."""

from __future__ import annotations

from homeport.core.ids import valid_id
from homeport.crypto.delegations import ID, new_id


def test_every_new_id_is_a_valid_record_id() -> None:
    ids = [new_id() for _ in range(2000)]
    assert all(valid_id(i) and ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
