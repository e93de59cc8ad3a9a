import pytest

from homeport.api.querystring import decode_token, encode_token, parse_list_query
from homeport.core.errors import InvalidParameters
from homeport.core.query import Filter, Op, Sort


def test_prefixes_and_values_become_filters() -> None:
    query = parse_list_query(
        [("in_n", "1,2"), ("has_x", "false"), ("like_t", "a*"), ("title", "x"), ("_since", '"5"')]
    )
    assert query.filters == [
        Filter("n", Op.IN, [1, 2]),
        Filter("x", Op.HAS, False),
        Filter("t", Op.LIKE, "a*"),
        Filter("title", Op.EQ, "x"),
        Filter("last_modified", Op.GT, 5),
    ]
    assert query.include_deleted


def test_sort_reads_directions() -> None:
    assert parse_list_query([("_sort", "-a,b")]).sorting == [Sort("a", True), Sort("b")]


@pytest.mark.parametrize(
    "params",
    [[("_limit", "x")], [("_since", "abc")], [("_token", "!!")], [("has_a", "maybe")]],
)
def test_bad_values_are_400(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidParameters):
        parse_list_query(params)


def test_unknown_fields_refused_when_a_schema_names_fields() -> None:
    with pytest.raises(InvalidParameters, match="Unknown sort field 'nope'"):
        parse_list_query([("_sort", "nope")], {"id", "title"})


def test_token_round_trips() -> None:
    assert decode_token(encode_token({"a": 1}, 3)) == {"last_object": {"a": 1}, "offset": 3}


def test_contains_any_is_not_read_as_contains() -> None:
    (flt,) = parse_list_query([("contains_any_tags", '["a","b"]')]).filters
    assert flt == Filter("tags", Op.CONTAINS_ANY, ["a", "b"])
