"""The JSON-input validator: a pure decision, tested without trio or I/O."""

from __future__ import annotations

import pytest

from orcha.errors import InvalidInputError
from orcha.validation import (
    ID_LENGTH,
    INT64_MAX,
    INT64_MIN,
    check_json_value,
    check_text,
    printable,
    validate_object,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": ID_LENGTH},
        "note": {"type": ["string", "null"], "maxLength": 10},
        "count": {"type": "integer", "minimum": 0, "maximum": 5},
        "flag": {"type": "boolean"},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
        "extra": {"type": "object"},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def _refused(data: object, *, noun: str = "field") -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        validate_object(SCHEMA, data, subject="thing", noun=noun)
    return caught.value


def test_a_valid_object_comes_back_as_a_plain_dict():
    data = {"name": "x", "note": None, "count": 5, "flag": False, "kind": "b", "tags": ["abc"], "extra": {"k": [1]}}
    assert validate_object(SCHEMA, data, subject="thing") == data


def test_not_an_object_is_refused():
    error = _refused(["name"], noun="argument")
    assert str(error) == "thing takes a JSON object of arguments"


def test_an_unknown_field_is_named_with_the_known_ones():
    error = _refused({"name": "x", "nmae": "y"})
    assert error.field == "nmae"
    assert "no field 'nmae'" in str(error)
    assert "fields: name, note, count" in str(error)


def test_an_unknown_hostile_field_name_is_echoed_printably():
    error = _refused({"name": "x", "bad\x00\ud800" + "z" * 500: 1})
    assert error.field is not None
    assert "\x00" not in error.field
    assert error.field.encode("utf-8")
    assert len(error.field) <= 101


@pytest.mark.parametrize("value", [None, "", "   \n\t"], ids=["missing-null", "empty", "blank"])
def test_a_required_field_may_not_be_null_or_blank(value):
    error = _refused({"name": value})
    assert error.field == "name"
    assert "needs 'name'" in str(error)


def test_a_required_field_may_not_be_absent():
    assert _refused({}).field == "name"


def test_a_null_optional_field_counts_as_absent():
    assert validate_object(SCHEMA, {"name": "x", "count": None}, subject="thing") == {"name": "x", "count": None}


def test_nul_is_refused_in_values_and_nested_keys():
    assert "NUL" in str(_refused({"name": "a\x00b"}))
    error = _refused({"name": "x", "extra": {"k\x00": 1}})
    assert error.field == "extra"
    assert "NUL" in str(error)


def test_a_lone_surrogate_is_refused():
    error = _refused({"name": "a\udc80"})
    assert error.field == "name"
    assert "lone surrogate" in str(error)


@pytest.mark.parametrize("number", [INT64_MAX + 1, INT64_MIN - 1, 10**30])
def test_an_integer_past_64_bits_is_refused_anywhere(number):
    error = _refused({"name": "x", "extra": {"deep": [number]}})
    assert error.field == "extra"
    assert "past 64 bits" in str(error)


def test_64_bit_integers_at_the_edges_are_accepted():
    check_json_value([INT64_MAX, INT64_MIN], "f")


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_number_that_is_not_finite_is_refused(number):
    with pytest.raises(InvalidInputError, match="not finite"):
        check_json_value({"a": number}, "f")


def test_nesting_depth_is_bounded_without_recursion():
    nested: object = 1
    for _ in range(10_000):
        nested = [nested]
    with pytest.raises(InvalidInputError, match="deeper than 32 levels") as caught:
        check_json_value(nested, "f")
    assert caught.value.field == "f"
    shallow: object = 1
    for _ in range(3):
        shallow = {"k": shallow}
    check_json_value(shallow, "f", max_depth=3)
    with pytest.raises(InvalidInputError, match="deeper than 2 levels"):
        check_json_value(shallow, "f", max_depth=2)


def test_non_json_values_and_keys_are_refused():
    with pytest.raises(InvalidInputError, match="is not JSON"):
        check_json_value({1, 2}, None)
    with pytest.raises(InvalidInputError, match="key that is not a string"):
        check_json_value({1: "a"}, "f")


def test_max_length_is_inclusive():
    validate_object(SCHEMA, {"name": "n" * ID_LENGTH}, subject="thing")
    error = _refused({"name": "n" * (ID_LENGTH + 1)})
    assert error.field == "name"
    assert f"at most {ID_LENGTH} characters" in str(error)


def test_list_items_and_size_are_checked():
    assert "at most 2 items" in str(_refused({"name": "x", "tags": ["a", "b", "c"]}))
    assert "list of strings" in str(_refused({"name": "x", "tags": [1]}))
    assert "at most 3 characters" in str(_refused({"name": "x", "tags": ["abcd"]}))


def test_types_bounds_and_enums():
    assert "must be a string" in str(_refused({"name": 3}))
    assert "must be an integer" in str(_refused({"name": "x", "count": True}))
    assert "must be an integer" in str(_refused({"name": "x", "count": "1"}))
    assert "between 0 and 5" in str(_refused({"name": "x", "count": 6}))
    assert "must be a boolean" in str(_refused({"name": "x", "flag": 1}))
    assert "must be one of a, b" in str(_refused({"name": "x", "kind": "c"}))
    assert "must be a string" in str(_refused({"name": "x", "note": 1}))


def test_check_text_names_the_field_or_the_input():
    check_text("plain ✓ text", "f")
    with pytest.raises(InvalidInputError, match=r"^'f' must not contain NUL"):
        check_text("\x00", "f")
    with pytest.raises(InvalidInputError, match=r"^the input must be valid Unicode"):
        check_text("\ud800", None)


def test_printable_escapes_and_truncates():
    assert printable("a\x00b") == "a\\x00b"
    assert printable("a\ud800") == "a\\ud800"
    assert printable("x" * 5, limit=3) == "xxx…"
    assert printable("xyz", limit=3) == "xyz"
