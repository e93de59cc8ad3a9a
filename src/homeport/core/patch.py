"""JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902) as pure functions on JSON values."""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied; the message says which operation and why."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) + (1 if allow_end else 0)
    if index >= limit:
        raise PatchError(f"array index {index} out of range")
    return index


def _get(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise PatchError(f"path member {token!r} not found")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, allow_end=False)]
        else:
            raise PatchError(f"cannot descend into {type(doc).__name__}")
    return doc


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError("cannot add to a scalar")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"can't remove a non-existent object {last!r}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise PatchError("cannot remove from a scalar")
    return doc


def _replaceable(doc: Any, tokens: list[str]) -> None:
    """Worded as the ``jsonpatch`` library Kinto uses words it."""
    if not tokens:
        return
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict) and last not in parent:
        raise PatchError(f"can't replace a non-existent object {last!r}")
    if isinstance(parent, list) and not (last.isdigit() and int(last) < len(parent)):
        raise PatchError("can't replace outside of list")


def json_patch(document: Any, operations: Any) -> Any:
    """Apply RFC 6902 operations; raises PatchError and leaves ``document`` untouched."""
    if not isinstance(operations, list):
        raise PatchError("a JSON Patch is a list of operations")
    doc = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError("each operation needs 'op' and 'path'")
        op, tokens = operation["op"], _pointer(str(operation["path"]))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"'{op}' needs a 'value'")
        if op == "add":
            doc = _add(doc, tokens, copy.deepcopy(operation["value"]))
        elif op == "remove":
            doc = _remove(doc, tokens)
        elif op == "replace":
            _replaceable(doc, tokens)
            doc = _add(_remove(doc, tokens), tokens, copy.deepcopy(operation["value"]))
        elif op in ("move", "copy"):
            source = _pointer(str(operation.get("from", "")))
            value = copy.deepcopy(_get(doc, source))
            if op == "move":
                doc = _remove(doc, source)
            doc = _add(doc, tokens, value)
        elif op == "test":
            if _get(doc, tokens) != operation["value"]:
                raise PatchError(f"test failed at {operation['path']!r}")
        else:
            raise PatchError(f"unknown operation {op!r}")
    return doc
