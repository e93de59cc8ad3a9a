"""Collection JSON schemas, made safe to accept from anyone who may write a collection.

A schema is data a client sends, and jsonschema on its own trusts it: a ``$ref`` to
``http://…`` made the home fetch that URL in the middle of a write (a request forgery and a
stall of the whole event loop), a ``file://`` one read local files and echoed their values in
error messages, and a ``pattern`` with nested quantifiers took seconds of backtracking per record
in Python's ``re``, which holds the GIL throughout. So here:

- references resolve only inside the schema itself: the registry's ``retrieve`` refuses every
  other URI, and every ``$ref`` is resolved once when the schema is set, so a schema that points
  outside itself is a 400 then, not at some later write;
- ``pattern`` and ``patternProperties`` run on RE2 (``google-re2``), whose matching time is
  linear in the input; a pattern RE2 cannot run (backreferences, lookaround) is refused when the
  schema is set;
- records are checked in a worker thread, and a check that takes longer than
  ``CHECK_SECONDS`` is answered with a 400 instead of being waited for. A check whose cost is
  bounded runs on the caller's thread instead: the schema uses only keywords that visit each
  (schema node, record node) pair at most once (no ``$ref``, which can loop) and the record is
  small (``INLINE_RECORD_NODES``, ``INLINE_PAIRS``). Such a check takes tens of microseconds;
  the hop to a worker thread and back cost more CPU than that, and under load milliseconds of
  waiting per record (an import writes tens of thousands).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import anyio
import jsonschema
import re2
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

CHECK_SECONDS = 2.0
"""The longest a record's check against its collection's schema is waited for."""
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
RE2_MAX_MEM = 8 << 20
INLINE_RECORD_NODES = 500
"""A record with more nodes (objects, arrays, keys, values) is always checked in a thread."""
INLINE_PAIRS = 50_000
"""Nor is one checked inline when schema nodes times record nodes exceed this."""
_BOUNDED_KEYWORDS = frozenset({
    # applicators: each applies its subschemas to the value itself or to its direct children
    "properties", "patternProperties", "additionalProperties", "items", "prefixItems",
    "additionalItems", "contains", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "dependentSchemas", "dependencies", "propertyNames",
    # assertions on one value (``pattern`` on RE2, linear; ``uniqueItems`` sorts or compares
    # pairs, kept small by INLINE_RECORD_NODES)
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired",
    # annotations (no format checker is used)
    "$schema", "$id", "$anchor", "$comment", "$defs", "definitions", "title", "description",
    "default", "examples", "deprecated", "readOnly", "writeOnly", "format", "contentEncoding",
    "contentMediaType",
})
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "dependencies")
_SCHEMA_ONE = ("additionalProperties", "items", "additionalItems", "contains", "not", "if",
               "then", "else", "propertyNames")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


class SchemaRefused(ValueError):
    """A schema (or a record's check against one) that cannot be accepted; the message says
    why without quoting anything the schema could have pulled in from elsewhere."""


def _refuse(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = RE2_MAX_MEM


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    """A compiled RE2 pattern; SchemaRefused when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise SchemaRefused(
            f"the pattern {pattern!r} cannot be used ({reason}): patterns are matched in "
            "linear time, without backreferences or lookaround"
        ) from None


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(patrn).search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        regex = _regex(pattern)
        for key, value in instance.items():
            if regex.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@functools.lru_cache(maxsize=16)
def _safe_class(base: type[Any]) -> Any:
    """``base`` (the draft's validator class) with its regex keywords on RE2."""
    overrides: dict[str, Any] = {}
    if "pattern" in base.VALIDATORS:
        overrides["pattern"] = _pattern
    if "patternProperties" in base.VALIDATORS:
        overrides["patternProperties"] = _pattern_properties
    return jsonschema.validators.extend(base, overrides)


def _registry(schema: dict[str, Any]) -> tuple[Registry[Any], str]:
    """A registry holding this schema only (and what it embeds), retrieving nothing else."""
    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    resource = spec.create_resource(schema)
    root = resource.id() or ""
    registry: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]
    return registry.with_resource(root, resource).crawl(), root


def _references(node: Any, base: str, spec: Any) -> Iterator[tuple[str, str]]:
    """Every (base URI, reference) in the schema, following embedded ids."""
    if isinstance(node, dict):
        own = spec.id_of(node) if spec is not None else None
        here = urljoin(base, own) if isinstance(own, str) else base
        for key, value in node.items():
            if key in REF_KEYWORDS and isinstance(value, str):
                yield here, value
            else:
                yield from _references(value, here, spec)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item, base, spec)


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from (k for k in value if isinstance(k, str))
            yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def check(schema: dict[str, Any]) -> None:
    """Everything a schema must pass before a collection may hold it: valid for its draft,
    references only inside itself, patterns RE2 can run. SchemaError (from jsonschema) or
    SchemaRefused, saying what is wrong."""
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    registry, root = _registry(schema)
    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    for where, ref in _references(schema, root, spec):
        try:
            registry.resolver(base_uri=where).lookup(ref)
        except Unresolvable:
            raise SchemaRefused(
                f"$ref {ref!r} does not point inside this schema: only references to its own "
                "parts (such as '#/$defs/name') are followed, never URLs or files"
            ) from None
    for pattern in _patterns(schema):
        _regex(pattern)


def _bounded_nodes(schema: Any) -> int | None:
    """How many subschemas ``schema`` has when every one uses only ``_BOUNDED_KEYWORDS`` (and
    no ``$ref``, ``$defs`` being then unreachable); None otherwise."""
    if isinstance(schema, bool):
        return 1
    if not isinstance(schema, dict) or not _BOUNDED_KEYWORDS.issuperset(schema):
        return None
    total = 1
    children: list[Any] = []
    for key in _SCHEMA_MAPS:
        value = schema.get(key)
        if isinstance(value, dict):
            children.extend(v for v in value.values() if not isinstance(v, list))
    for key in _SCHEMA_ONE:
        if isinstance(schema.get(key), (dict, bool)):
            children.append(schema[key])
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            children.extend(schema[key])
    for child in children:
        nodes = _bounded_nodes(child)
        if nodes is None:
            return None
        total += nodes
    return total


def _record_nodes(instance: Any, limit: int) -> int:
    """The nodes of ``instance`` (containers, keys, values), counting no further than past
    ``limit``."""
    count, todo = 0, [instance]
    while todo and count <= limit:
        node = todo.pop()
        count += 1
        if isinstance(node, dict):
            count += len(node)
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return count


class Checker:
    """A compiled validator and, when its schema's keywords are all bounded, how many nodes
    the schema has (which decides whether a record is checked inline)."""

    __slots__ = ("schema_nodes", "validator")

    def __init__(self, validator: Any, schema_nodes: int | None) -> None:
        self.validator = validator
        self.schema_nodes = schema_nodes

    def inline(self, instance: Any) -> bool:
        """Whether checking ``instance`` is cheap enough to need no thread and no timeout."""
        if self.schema_nodes is None:
            return False
        limit = min(INLINE_RECORD_NODES, INLINE_PAIRS // self.schema_nodes)
        return _record_nodes(instance, limit) <= limit


def compile_validator(schema: dict[str, Any]) -> Checker:
    """A validator for records of a collection with ``schema`` (checked by ``check``)."""
    registry, _ = _registry(schema)
    cls = _safe_class(jsonschema.validators.validator_for(schema))
    return Checker(cls(schema, registry=registry), _bounded_nodes(schema))


def _first_error(validator: Any, instance: Any) -> ValidationError | None:
    try:
        found: ValidationError | None = best_match(validator.iter_errors(instance))
    except Unresolvable:
        raise SchemaRefused(
            "the collection's schema refers outside itself: set a schema whose $ref "
            "point inside it"
        ) from None
    return found


async def first_error(checker: Checker, instance: Any) -> ValidationError | None:
    """The error Kinto would report for ``instance`` (None when valid), checked off the event
    loop unless the check is bounded and small; SchemaRefused when the check outlasts
    ``CHECK_SECONDS``."""
    if checker.inline(instance):
        return _first_error(checker.validator, instance)
    with anyio.move_on_after(CHECK_SECONDS) as scope:
        return await anyio.to_thread.run_sync(
            _first_error, checker.validator, instance, abandon_on_cancel=True
        )
    if scope.cancelled_caught:
        raise SchemaRefused(
            f"checking this record against the collection's schema took over {CHECK_SECONDS:g} s: "
            "simplify the schema or the record"
        )
    return None


__all__ = [
    "CHECK_SECONDS",
    "Checker",
    "SchemaError",
    "SchemaRefused",
    "check",
    "compile_validator",
]
