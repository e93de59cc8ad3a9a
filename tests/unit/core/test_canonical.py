"""RFC 8785 canonical JSON, including the ECMAScript number forms from its test vectors."""

import pytest

from homeport.core.canonical import CanonicalError, canonical


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (295147905179352830000.0, "295147905179352830000"),
        (9007199254740992.0, "9007199254740992"),
        (333333333.3333333, "333333333.3333333"),
        (4.5, "4.5"),
        (-1.5e-10, "-1.5e-10"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (12, "12"),
    ],
)
def test_numbers_are_written_as_ecmascript_writes_them(value: float, text: str) -> None:
    assert canonical(value) == text.encode()


def test_keys_sort_by_utf16_code_units_and_nothing_is_spaced() -> None:
    value = {"\u20ac": 1, "\r": 2, "1": 3, "\U0001f600": 4, "\ufb33": 5}
    assert canonical(value) == '{"\\r":2,"1":3,"\u20ac":1,"\U0001f600":4,"\ufb33":5}'.encode()


def test_equal_data_gives_equal_bytes() -> None:
    assert canonical({"b": [1, None], "a": "x"}) == canonical({"a": "x", "b": [1, None]})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: "x"}, {"a": object()}])
def test_what_json_cannot_hold_is_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonical(bad)
