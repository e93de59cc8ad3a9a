"""The reference semantics of Kinto's filters, sorting and paging rules."""

from homeport.core.query import (
    Filter,
    Op,
    Sort,
    matches,
    native_value,
    pagination_rules,
    sort_objects,
)

DOC = {"title": "Hello World", "n": 3, "f": 2.5, "ok": True, "tags": ["a", "b"], "a": {"b": 1}}


def test_native_value_reads_json_scalars_and_keeps_other_text() -> None:
    assert native_value("1") == 1
    assert native_value("true") is True
    assert native_value("null") is None
    assert native_value("abc") == "abc"
    assert native_value("[1]") == "[1]"


def test_booleans_are_not_numbers() -> None:
    assert not matches({"x": True}, Filter("x", Op.EQ, 1))
    assert not matches({"x": 1}, Filter("x", Op.EQ, True))
    assert matches({"x": 1}, Filter("x", Op.EQ, 1.0))


def test_not_and_exclude_include_missing_fields() -> None:
    assert matches({}, Filter("x", Op.NOT, 1))
    assert matches({}, Filter("x", Op.EXCLUDE, [1, 2]))
    assert not matches({"x": 2}, Filter("x", Op.EXCLUDE, [1, 2]))


def test_comparisons_stay_within_one_type() -> None:
    assert matches(DOC, Filter("n", Op.GT, 2))
    assert not matches(DOC, Filter("n", Op.GT, "2"))
    assert matches(DOC, Filter("n", Op.MIN, 3)) and matches(DOC, Filter("n", Op.MAX, 3))
    assert not matches(DOC, Filter("missing", Op.LT, 10))


def test_like_is_case_insensitive_with_star_wildcards() -> None:
    assert matches(DOC, Filter("title", Op.LIKE, "world"))
    assert matches(DOC, Filter("title", Op.LIKE, "h*d"))
    assert not matches(DOC, Filter("n", Op.LIKE, "3"))


def test_has_contains_and_dotted_fields() -> None:
    assert matches(DOC, Filter("a.b", Op.EQ, 1))
    assert matches(DOC, Filter("a.c", Op.HAS, False))
    assert matches(DOC, Filter("tags", Op.CONTAINS, ["a", "b"]))
    assert not matches(DOC, Filter("tags", Op.CONTAINS, ["a", "z"]))
    assert matches(DOC, Filter("tags", Op.CONTAINS_ANY, ["z", "b"]))


def test_missing_sorts_last_ascending_and_first_descending() -> None:
    objs = [{"id": "1", "n": 2}, {"id": "2"}, {"id": "3", "n": 1}]
    assert [o["id"] for o in sort_objects(objs, [Sort("n")])] == ["3", "1", "2"]
    assert [o["id"] for o in sort_objects(objs, [Sort("n", True)])] == ["2", "1", "3"]


def test_pagination_rules_select_exactly_what_follows() -> None:
    objs = [{"id": str(i), "g": i % 3, "n": i} for i in range(20)]
    sorting = [Sort("g"), Sort("n", descending=True)]
    ordered = sort_objects(objs, sorting)
    seen: list[str] = []
    page = ordered[:7]
    for _ in range(10):
        seen += [o["id"] for o in page]
        rules = pagination_rules(sorting, page[-1])
        rest = [o for o in ordered if any(all(matches(o, f) for f in g) for g in rules)]
        page = sort_objects(rest, sorting)[:7]
        if not page:
            break
    assert seen == [o["id"] for o in ordered]
