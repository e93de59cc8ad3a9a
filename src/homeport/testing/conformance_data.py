"""The fixed dataset the conformance suite checks filters and sorts on, and its helpers.

It mixes every JSON type per field, missing fields, nulls, nesting, lists, numeric-looking keys,
keys SQL path syntax struggles with, LIKE metacharacters and non-ASCII case pairs: the places where
a SQL translation most easily drifts from `homeport.core.query`.
"""

from __future__ import annotations

import json
from typing import Any

from homeport.core.query import MISSING, Filter, Op, Sort
from homeport.store.protocols import JSONObject, RecordStore

R, P = "record", "/buckets/b/collections/c"

DATASET: list[JSONObject] = [
    {
        "id": "a1",
        "s": "apple",
        "n": 1,
        "b": True,
        "z": None,
        "tags": ["x", "y"],
        "nested": {"k": "v", "n": 3, "0": "zero"},
        'we"ird': 1,
    },
    {"id": "a2", "s": "APPLE pie", "n": 2, "b": False, "tags": [], "nested": {"k": "w", "n": 2.5}},
    {
        "id": "b1",
        "s": "banana",
        "n": 2.0,
        "b": 1,
        "z": 0,
        "tags": ["y", 1, True, None],
        "nested": "flat",
    },
    {"id": "b2", "s": 10, "n": "3", "b": "true", "z": False, "tags": "x", "nested": {"k": None}},
    {"id": "c1"},
    {
        "id": "c2",
        "s": "Éclair",
        "n": -1,
        "b": 0,
        "z": "",
        "tags": [["x"], {"x": 1}],
        "nested": {"k": {"deep": 1}},
    },
    {"id": "d1", "s": "a*b", "n": 1000, "z": [1], "tags": [1.0, 2, False], "nested": {}},
    {"id": "d2", "s": "100%_sure\\", "n": True, "z": {"a": 1}, "tags": ["X", 0], 'we"ird': "q"},
    {"id": "e1", "s": "", "n": 0, "b": None, "tags": [0.0, "1"], "nested": {"n": "3", "0": 0}},
    {
        "id": "e2",
        "s": "x",
        "n": 2.5,
        "b": [True],
        "tags": ["x", "x"],
        "nested": {"k": "V", "n": 1e3},
    },
    {"id": "f1", "s": "éCLAIR", "n": 0.001, "z": "null", "tags": [None], "nested": {"n": None}},
    {"id": "g1", "s": "a*b\n", "n": "x\ny", "tags": ["a*b\n"]},
]
FIELDS = [
    "id",
    "last_modified",
    "deleted",
    "s",
    "n",
    "b",
    "z",
    "tags",
    "nested",
    "nested.k",
    "nested.n",
    "nested.0",
    "nested.k.deep",
    "tags.0",
    "id.x",
    "nope",
    'we"ird',
]
SCALARS: list[Any] = [
    "apple",
    "APPLE pie",
    "",
    "a*b",
    "x",
    "3",
    "null",
    0,
    1,
    2,
    2.0,
    2.5,
    -1,
    10,
    1000,
    0.001,
    True,
    False,
    None,
    "é",
]
LISTS: list[list[Any]] = [
    [],
    ["apple", 1],
    [True, 0],
    [None, "x"],
    [2.0, "3"],
    [1],
    ["x", "y"],
    [False],
    ["X"],
    [1, "y"],
    [0],
    [None],
]
PATTERNS = [
    "app",
    "APP",
    "*an*a",
    "a*b",
    "é",
    "É",
    "éclair",
    "%",
    "_",
    "\\",
    "",
    "*",
    "x",
    "1",
    "b*",
    "100%_",
]
SORTINGS: list[list[Sort]] = [
    [Sort("s")],
    [Sort("s", True)],
    [Sort("n")],
    [Sort("n", True)],
    [Sort("b")],
    [Sort("b", True)],
    [Sort("z")],
    [Sort("z", True)],
    [Sort("tags")],
    [Sort("nested.k")],
    [Sort("nested.n", True)],
    [Sort("nope")],
    [Sort("b"), Sort("n", True)],
    [Sort("nested.k", True), Sort("s")],
    [Sort("id", True)],
    [Sort("last_modified")],
    [Sort("deleted"), Sort("id")],
    [Sort("deleted", True), Sort("n")],
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def canon(value: Any) -> Any:
    """Equal sort keys compare equal here: 2 == 2.0, null ties with missing, True != 1."""
    if value is MISSING or value is None:
        return ("nil",)
    if _is_number(value):
        return ("num", float(value))
    return (type(value).__name__, json.dumps(value, sort_keys=True))


def ids_of(objects: list[JSONObject]) -> list[str]:
    return sorted(o["id"] for o in objects)


async def load_dataset(store: RecordStore, parent: str = P) -> list[JSONObject]:
    for obj in DATASET:
        await store.create(R, parent, obj)
    await store.create(R, parent, {"id": "t1", "s": "apple", "n": 1})
    await store.delete(R, parent, "t1")
    everything = await store.list_all(R, parent, include_deleted=True)
    assert len(everything) == len(DATASET) + 1
    return everything


def filters_for(op: Op, everything: list[JSONObject]) -> list[Filter]:
    lm = sorted(o["last_modified"] for o in everything)[5]
    if op in (Op.IN, Op.EXCLUDE, Op.CONTAINS, Op.CONTAINS_ANY):
        values: list[Any] = [*LISTS, [lm, "a2"]]
    elif op is Op.LIKE:
        values = list(PATTERNS)
    elif op is Op.HAS:
        values = [True, False]
    else:
        values = [*SCALARS, "a2", "c1", lm, lm + 0.5]
    return [Filter(field, op, value) for field in FIELDS for value in values]
