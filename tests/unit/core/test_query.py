"""The reference semantics of Kinto's filters, sorting and paging rules."""

from homeport.core.query import (
    MISSING,
    Filter,
    Op,
    Sort,
    extract,
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


def test_pagination_rules_place_missing_and_null_values_where_the_sort_does() -> None:
    """Tombstones have no data fields: a page boundary next to them must not skip them."""
    objs: list[dict[str, object]] = []
    for i in range(24):
        obj: dict[str, object] = {"id": f"{i:02}", "last_modified": 100 - i}
        if i % 4 == 1:
            obj["t"] = None
        elif i % 4 != 3:
            obj["t"] = i % 5
        objs.append(obj)
    for sorting in (
        [Sort("t"), Sort("last_modified", descending=True)],
        [Sort("t", descending=True), Sort("last_modified", descending=True)],
        [Sort("t"), Sort("t", descending=True), Sort("id")],
    ):
        ordered = sort_objects(objs, sorting)
        for size in (1, 3, 5):
            seen: list[object] = []
            page = ordered[:size]
            for _ in range(30):
                seen += [o["id"] for o in page]
                last = {
                    s.field: o for s in sorting if (o := extract(page[-1], s.field)) is not MISSING
                }
                rules = pagination_rules(sorting, last)
                rest = [o for o in ordered if any(all(matches(o, f) for f in g) for g in rules)]
                page = sort_objects(rest, sorting)[:size]
                if not page:
                    break
            assert seen == [o["id"] for o in ordered], (sorting, size)


def test_pagination_rules_stay_bounded_whatever_the_sort() -> None:
    sorting = [Sort(f"f{i}") for i in range(40)] + [Sort("id")]
    rules = pagination_rules(sorting, {"id": "x"})
    assert 0 < len(rules) < 1000
    assert any(group[-1] == Filter("id", Op.GT, "x") for group in rules)
