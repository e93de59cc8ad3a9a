"""Which record checks skip the worker thread (``services/schemas.py``), and that skipping it
changes no answer."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from homeport.content.schemas import entry_schema
from homeport.content.types import ENTRY_TYPES
from homeport.services import schemas

NOTE = {"visibility": "public", "draft": False, "published": "2023-09-01T08:01:00Z",
        "text": "Toot 1 about the sea", "slug": "toot-1-about-the-sea",
        "tags": ["sea", "boats"], "import_hash": "ab" * 32}


class Spy:
    """The validator, noting the thread each check runs on."""

    def __init__(self, validator: Any) -> None:
        self.validator, self.threads = validator, list[str]()

    def iter_errors(self, instance: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        return self.validator.iter_errors(instance)


def checked_on(checker: schemas.Checker, record: Any) -> tuple[str | None, str]:
    """The error message (None when valid) and the name of the thread that checked."""
    spy = Spy(checker.validator)
    error = asyncio.run(schemas.first_error(schemas.Checker(spy, checker.schema_nodes), record))
    return (error.message if error else None), spy.threads[0]


@pytest.mark.parametrize("kind", sorted(ENTRY_TYPES))
def test_every_entry_schema_is_bounded(kind: str) -> None:
    assert schemas.compile_validator(entry_schema(kind)).schema_nodes is not None


def test_a_small_record_is_checked_without_a_thread_hop() -> None:
    checker = schemas.compile_validator(entry_schema("note"))
    main = threading.current_thread().name
    assert checked_on(checker, NOTE) == (None, main)
    message, where = checked_on(checker, {**NOTE, "slug": "Not A Slug"})
    assert where == main
    assert message is not None and "does not match" in message


@pytest.mark.parametrize("schema", [
    {"$defs": {"a": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
    {"type": "object", "unevaluatedProperties": False},
    {"type": "object", "properties": {"x": {"x-vendor": 1}}},
])
def test_a_schema_with_unbounded_or_unknown_keywords_is_checked_in_a_thread(
        schema: dict[str, Any]) -> None:
    checker = schemas.compile_validator(schema)
    assert checker.schema_nodes is None
    assert checked_on(checker, {"x": "y"})[1] != threading.current_thread().name


def test_a_large_record_is_checked_in_a_thread() -> None:
    checker = schemas.compile_validator(entry_schema("note"))
    big = {**NOTE, "tags": [f"t{n}" for n in range(schemas.INLINE_RECORD_NODES)]}
    message, where = checked_on(checker, big)
    assert where != threading.current_thread().name
    assert message is not None and "is too long" in message


@pytest.mark.parametrize("record", [
    NOTE,
    {**NOTE, "draft": "no"},
    {**NOTE, "tags": ["a", "a"]},
    {**NOTE, "tags": ["a/b"]},
    {k: v for k, v in NOTE.items() if k != "published"},
    {**NOTE, "mentions": [{"name": "x", "href": "ftp://x"}]},
])
def test_inline_and_threaded_checks_answer_the_same(record: dict[str, Any]) -> None:
    inline = schemas.compile_validator(entry_schema("note"))
    threaded = schemas.Checker(inline.validator, None)
    assert checked_on(inline, record)[0] == checked_on(threaded, record)[0]
