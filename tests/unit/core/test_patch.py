import pytest

from homeport.core.patch import PatchError, json_patch, merge_patch


def test_merge_patch_removes_nulls_and_merges_deeply() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None}, "e": 3}) == {
        "a": {"c": 2},
        "d": 1,
        "e": 3,
    }


def test_json_patch_applies_all_operations() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "move", "from": "/a/0", "path": "/e"},
        {"op": "remove", "path": "/b"},
        {"op": "test", "path": "/e", "value": 1},
    ]
    assert json_patch(doc, ops) == {"a": [2, 3], "d": {"c": 2}, "e": 1}
    assert doc == {"a": [1, 2], "b": {"c": 1}}


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add"},
        [{"op": "remove", "path": "/nope"}],
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/a/9", "value": 1}],
    ],
)
def test_bad_json_patch_is_refused(ops: object) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": [1]}, ops)
