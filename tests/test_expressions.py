"""The expression language of billing-file mappings: parsing, evaluation, errors, limits."""

from __future__ import annotations

import ast
import builtins
import math
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbook.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expression,
    ExpressionError,
    compile_expression,
)

D = Decimal


def ev(text: str, record: Any = None, *, strict: bool = False) -> Any:
    return compile_expression(text).evaluate({} if record is None else record, strict=strict)


def compile_error(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    return str(info.value)


def eval_error(text: str, record: Any = None, *, strict: bool = False) -> str:
    expression = compile_expression(text)  # must compile: the error is the evaluation's
    with pytest.raises(ExpressionError) as info:
        expression.evaluate({} if record is None else record, strict=strict)
    return str(info.value)


# --- literals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", D("12")),
        ("1.5", D("1.5")),
        (".5", D("0.5")),
        ("1e3", D("1000")),
        ("2.5E-2", D("0.025")),
        ("1.", D("1")),
        ("0.1", D("0.1")),
        ("-3", D("-3")),
        ("007", D("7")),
    ],
)
def test_number_literals_are_exact_decimals(text: str, value: Decimal) -> None:
    result = ev(text)
    assert type(result) is Decimal
    assert result == value


def test_decimal_arithmetic_is_exact() -> None:
    assert ev("0.1 + 0.2") == D("0.3")
    assert ev("0.1 + 0.2 == 0.3") is True


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'a\"b'", 'a"b'),
        ('"a\'b"', "a'b"),
        ("'\\d+'", "\\d+"),  # other backslashes stay as written (handy for regex patterns)
        ("'multi\nline'", "multi\nline"),
        ("'ünïcödé €'", "ünïcödé €"),
    ],
)
def test_string_literals(text: str, value: str) -> None:
    assert ev(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("false", False), ("null", None), ("TRUE", True), ("Null", None)],
)
def test_constants(text: str, value: Any) -> None:
    assert ev(text) is value


# --- fields ------------------------------------------------------------------------------------


def test_plain_slashed_and_dotted_names_are_one_field() -> None:
    record = {"cost": "1", "lineItem/UnblendedCost": "2.5", "cost.amount": "7", "a_1": "x"}
    assert ev("cost", record) == "1"
    assert ev("lineItem/UnblendedCost", record) == "2.5"
    assert ev("cost.amount", record) == "7"
    assert ev("a_1", record) == "x"
    assert ev("_private", {"_private": 1}) == 1


def test_backticked_fields() -> None:
    record = {"Cost (USD)": "3", "and": "kw", "a`b": 1, "back\\slash": 2, "é": "e"}
    assert ev("`Cost (USD)`", record) == "3"
    assert ev("number(`Cost (USD)`) * 2", record) == D("6")
    assert ev("`and`", record) == "kw"
    assert ev("`a\\`b`", record) == 1
    assert ev("`back\\\\slash`", record) == 2
    assert ev("`é`", record) == "e"


def test_dotted_names_walk_json_records() -> None:
    record = {
        "service": {"description": "Compute Engine", "id": "6F81"},
        "credits": [{"amount": -1.5, "name": "FreeTier"}, {"amount": "-0.25"}],
        "labels": {"team": {"name": "hpc"}},
        "text": "not an object",
    }
    assert ev("service.description", record) == "Compute Engine"
    assert ev("credits.0.amount", record) == -1.5
    assert ev("credits.1.amount", record) == "-0.25"
    assert ev("labels.team.name", record) == "hpc"
    assert ev("credits.2.amount", record) is None  # past the end
    assert ev("credits.x", record) is None  # arrays take indexes only
    assert ev("text.length", record) is None  # a string has no fields
    assert ev("service.missing", record) is None
    assert ev("`service.description`", record) == "Compute Engine"


def test_exact_key_wins_over_a_path() -> None:
    assert ev("a.b", {"a.b": 1, "a": {"b": 2}}) == 1
    assert ev("a.b", {"a": {"b": 2}}) == 2


def test_any_mapping_is_a_record() -> None:
    assert ev("a.b & c", MappingProxyType({"a": MappingProxyType({"b": "x"}), "c": "y"})) == "xy"


def test_missing_fields_are_null_unless_strict() -> None:
    assert ev("missing") is None
    assert ev("a.b.c", {"a": {}}) is None
    assert "missing field 'missing' at column 5 in 'x & missing'" in eval_error(
        "x & missing", {"x": 1}, strict=True
    )
    assert "missing field 'a.b.c'" in eval_error("a.b.c", {"a": {"b": {}}}, strict=True)
    assert "missing field 'x y'" in eval_error("`x y`", strict=True)
    # present but null (a JSON null) is a value, not a missing field
    assert ev("a", {"a": None}, strict=True) is None
    assert ev("a.b", {"a": {"b": None}}, strict=True) is None
    assert ev("a.0", {"a": [5]}, strict=True) == 5


def test_names_lists_every_field() -> None:
    expression = compile_expression(
        "upper(a) & `b c` & x.y & if(d, e, coalesce(f, 'g')) & sum(items, 'amount') & g/h"
    )
    assert expression.names == frozenset({"a", "b c", "x.y", "d", "e", "f", "items", "g/h"})
    assert compile_expression("1 + 'x' & true").names == frozenset()
    assert expression.source.startswith("upper(a)")
    assert repr(compile_expression("a + 1")) == "compile_expression('a + 1')"


# --- operators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7 + 2", D("9")),
        ("7 - 2", D("5")),
        ("7 * 2", D("14")),
        ("7 / 2", D("3.5")),
        ("7 % 3", D("1")),
        ("-7 % 3", D("2")),  # the sign of the divisor
        ("7 % -3", D("-2")),
        ("-7 % -3", D("-1")),
        ("6 % 3", D("0")),
        ("7.5 % 2", D("1.5")),
        ("-(2 + 3)", D("-5")),
        ("--2", D("2")),
        ("- - 2", D("2")),
        ("1 / 3 * 3", D("0.9999999999999999999999999999999999")),
        ("1 - 2 - 3", D("-4")),  # left to right
        ("24 / 4 / 2", D("3")),
        ("10 - 2 + 3", D("11")),
        ("'ab' + 'cd'", "abcd"),
        ("'a' + 'b' + 'c'", "abc"),
    ],
)
def test_arithmetic(text: str, value: Any) -> None:
    assert ev(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", D("7")),
        ("(1 + 2) * 3", D("9")),
        ("2 * 3 + 4 * 5", D("26")),
        ("10 - 4 / 2", D("8")),
        ("10 % 4 * 3", D("6")),
        ("-2 * 3", D("-6")),
        ("-a * 3", D("-6")),
        ("2 * -3", D("-6")),
        ("1 + 2 & 3 + 4", "37"),  # & is looser than + -
        ("1 & 2 == '12'", True),  # comparisons are looser than &
        ("1 + 1 == 2", True),
        ("1 < 2 == true", False),  # not chained, and not (1 < (2 == true)): a parse error below
        ("not 1 == 2", True),
        ("not true and false", False),  # (not true) and false
        ("not (true and false)", True),
        ("true or true and false", True),  # and binds tighter than or
        ("(true or true) and false", False),
        ("false and true or true", True),
        ("not not true", True),
        ("1 < 2 and 2 < 3 or 1 / 0 == 1", True),
    ],
)
def test_precedence(text: str, value: Any) -> None:
    if text == "1 < 2 == true":
        assert "comparisons cannot be chained" in compile_error(text)
        return
    assert ev(text, {"a": "2"}) == value


def test_arithmetic_converts_text_and_python_numbers() -> None:
    assert ev("a * 2", {"a": "3"}) == D("6")
    assert ev("a * 2", {"a": " 3.5 "}) == D("7.0")
    assert ev("a - b", {"a": "5", "b": "2"}) == D("3")
    assert ev("a * 2", {"a": 3}) == D("6")
    assert ev("a * 3", {"a": 1.1}) == D("3.3")  # via str(1.1), not the binary float
    assert ev("a / b", {"a": D("1"), "b": 4}) == D("0.25")
    assert ev("a + b", {"a": 1, "b": 2.5}) == D("3.5")
    assert type(ev("a + 0", {"a": 1})) is Decimal
    assert ev("-a", {"a": "5"}) == D("-5")
    assert ev("a * 2", {"a": ""}) is None  # blank text is null
    assert ev("a * 2", {"a": "  "}) is None


def test_plus_joins_two_texts_only() -> None:
    assert ev("a + b", {"a": "1", "b": "2"}) == "12"  # two texts join, even numeric ones
    message = eval_error("a + 1", {"a": "1"})
    assert message == (
        "'+': cannot add text and number (convert text with number(), join with &) "
        "at column 3 in 'a + 1'"
    )
    assert "cannot add number and text" in eval_error("1 + 'x'")
    assert "cannot add text and true/false" in eval_error("'x' + true")
    assert ev("number(a) + 1", {"a": "1"}) == D("2")


@pytest.mark.parametrize(
    ("text", "record", "message"),
    [
        ("a * 2", {"a": "abc"}, "'*': 'abc' is not a number at column 3"),
        ("2 - a", {"a": "1,5"}, "'-': '1,5' is not a number at column 3"),
        ("a / 2", {"a": True}, "'/': true is not a number"),
        ("true + 1", {}, "'+': true is not a number"),
        ("a % 2", {"a": [1]}, "'%': a list is not a number"),
        ("a * 2", {"a": {"x": 1}}, "an object is not a number"),
        ("a * 2", {"a": float("nan")}, "nan is not a finite number"),
        ("a * 2", {"a": "nan"}, "'nan' is not a number"),
        ("a * 2", {"a": "1_000"}, "'1_000' is not a number"),
        ("-a", {"a": "x"}, "'-': 'x' is not a number at column 1"),
        ("1 / 0", {}, "'/': division by zero at column 3 in '1 / 0'"),
        ("a / b", {"a": "1", "b": "0.0"}, "'/': division by zero"),
        ("0 / 0", {}, "division by zero"),
        ("5 % 0", {}, "'%': division by zero"),
        ("1 + 2 + 3 / 0", {}, "'/': division by zero at column 11"),
        ("1 + 2 + 'x' * 3", {}, "'*': 'x' is not a number at column 13"),
        ("a * a", {"a": "1e600000"}, "'*': the result is too large"),
        ("a % 3", {"a": "1e600"}, "'%': the result cannot be computed"),
        ("date('2024', '%Y') + 1", {}, "'+': date 2024-01-01T00:00:00+00:00 is not a number"),
    ],
)
def test_arithmetic_errors(text: str, record: dict[str, Any], message: str) -> None:
    assert message in eval_error(text, record)


def test_long_operator_chains_do_not_recurse() -> None:
    assert ev("+".join(["1"] * 1000)) == D("1000")
    assert ev(" - ".join(["a"] * 500), {"a": "1"}) == D("-498")
    assert ev(" & ".join(["a"] * 500), {"a": "x"}) == "x" * 500
    assert ev(" and ".join(["true"] * 200)) is True
    assert ev(" or ".join(["a == 1"] * 200), {"a": 2}) is False
    assert "'*': division by zero" not in eval_error(" * ".join(["2"] * 300) + " / 0")
    assert "'/': division by zero" in eval_error(" * ".join(["2"] * 300) + " / 0")


def test_ampersand_joins_text() -> None:
    assert ev("a & '-' & b", {"a": "x", "b": 12}) == "x-12"
    assert ev("a & b", {"a": None}) == ""
    assert ev("1.50 & true & false & null", {}) == "1.50truefalse"
    assert ev("1e3 & ''") == "1000"
    assert ev("date('2024-03-01', '%Y-%m-%d') & ''") == "2024-03-01T00:00:00+00:00"


# --- null --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a + 1", "1 + a", "a - 1", "a * 2", "a / 0", "a % 2", "-a", "a + 'x'", "'x' + a", "a + b"],
)
def test_arithmetic_with_null_is_null(text: str) -> None:
    assert ev(text, {"b": "abc"}) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a == null", True),
        ("a != null", False),
        ("null == null", True),
        ("a == 1", False),
        ("a != 1", True),
        ("a == ''", False),
        ("1 == a", False),
        ("a < 1", False),
        ("a <= 1", False),
        ("a > 1", False),
        ("a >= 1", False),
        ("1 > a", False),
        ("a < 'x'", False),
        ("a < a", False),
        ("b == null", False),
        ("b != null", True),
        ("blank > 1", False),  # blank text is a null number
    ],
)
def test_comparisons_with_null(text: str, value: bool) -> None:
    assert ev(text, {"b": 0, "blank": " "}) is value


# --- comparisons -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 == 1.0", True),
        ("1 != 1.0", False),
        ("2 > 1", True),
        ("2 >= 2", True),
        ("2 < 1", False),
        ("2 <= 1.5", False),
        ("'1.50' == 1.5", True),  # number against text: the text's number
        ("1.5 == '1.50'", True),
        ("'abc' == 1", False),  # text that is no number equals no number
        ("'abc' != 1", True),
        ("'10' > 9", True),  # ordering a number and text compares numbers
        ("'10' > '9'", False),  # two texts compare as texts
        ("'apple' < 'banana'", True),
        ("'a' == 'a'", True),
        ("'a' == 'A'", False),
        ("true == true", True),
        ("true == 1", False),  # true/false is not a number
        ("false == 0", False),
        ("true != 'true'", True),
        ("'x' == true", False),
    ],
)
def test_comparisons(text: str, value: bool) -> None:
    assert ev(text) is value


def test_comparisons_of_record_values() -> None:
    record: dict[str, Any] = {
        "i": 3,
        "f": 3.0,
        "d": D("3.00"),
        "s": "3",
        "flag": True,
        "items": [1, 2],
        "other": [1, 2],
        "obj": {"a": 1},
    }
    assert ev("i == f and f == d and d == s", record) is True
    assert ev("i < 4 and f > 2.5 and s <= 3", record) is True
    assert ev("flag == true", record) is True
    assert ev("flag == 1", record) is False
    assert ev("items == other", record) is True
    assert ev("items == obj", record) is False
    assert ev("obj == obj", record) is True


def test_dates_compare_with_dates() -> None:
    record = {"start": "2024-01-01", "end": "2024-02-01"}
    assert ev("date(start, '%Y-%m-%d') < date(end, '%Y-%m-%d')", record) is True
    assert ev("date(start, '%Y-%m-%d') == date(start, '%Y-%m-%d')", record) is True
    assert ev("date(start, '%Y-%m-%d') >= epoch(1704067200)", record) is True
    assert ev("date(start, '%Y-%m-%d') == 1", record) is False
    assert "cannot order date and number" in eval_error("date(start, '%Y-%m-%d') < 1", record)


@pytest.mark.parametrize(
    ("text", "record", "message"),
    [
        ("'abc' < 1", {}, "'<': 'abc' is not a number at column 7"),
        ("true < false", {}, "'<': cannot order true/false and true/false"),
        ("a > 1", {"a": [1]}, "cannot order list and number"),
        ("a >= 'x'", {"a": {}}, "cannot order object and text"),
        ("a < b", {"a": datetime(2024, 1, 1), "b": datetime(2024, 1, 1, tzinfo=UTC)}, "time zone"),
    ],
)
def test_comparison_errors(text: str, record: dict[str, Any], message: str) -> None:
    assert message in eval_error(text, record)


# --- and, or, not ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true and true", True),
        ("true and false", False),
        ("false or true", True),
        ("false or false", False),
        ("not false", True),
        ("not true", False),
        ("null or true", True),  # null counts as false
        ("null and true", False),
        ("not null", True),
        ("not missing", True),
        ("true AND NOT false", True),
        ("false or false or true", True),
        ("true and true and false", False),
    ],
)
def test_logic(text: str, value: bool) -> None:
    assert ev(text) is value


def test_logic_short_circuits() -> None:
    assert ev("false and 1 / 0 == 1") is False
    assert ev("true or 1 / 0 == 1") is True
    assert ev("a != null and number(a) > 2", {"a": None}) is False
    assert "division by zero" in eval_error("true and 1 / 0 == 1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a and true", "'and' needs true, false or null, got text 'yes' at column 1"),
        ("false or 1", "'or' needs true, false or null, got number 1 at column 10"),
        ("not a", "'not' needs true, false or null, got text 'yes' at column 5"),
        ("if(a, 1, 2)", "if() needs true, false or null, got text 'yes' at column 4"),
    ],
)
def test_logic_needs_booleans(text: str, message: str) -> None:
    assert message in eval_error(text, {"a": "yes"})


# --- functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("upper(a)", "MIXED CASE"),
        ("lower(a)", "mixed case"),
        ("UPPER(a)", "MIXED CASE"),  # function names are case-insensitive
        ("trim('  x y \t')", "x y"),
        ("upper(12.5)", "12.5"),
        ("length('héllo')", 5),
        ("length('')", 0),
        ("length(items)", 3),
        ("length(obj)", 1),
        ("length(12.50)", 5),
        ("concat('a', 1, null, true)", "a1true"),
        ("concat(null)", ""),
        ("substr('abcdef', 2)", "cdef"),
        ("substr('abcdef', 2, 3)", "cde"),
        ("substr('abcdef', 0, 0)", ""),
        ("substr('abcdef', 4, 10)", "ef"),
        ("substr('abcdef', 10)", ""),
        ("substr('abcdef', -2)", "ef"),
        ("substr('abcdef', -10, 2)", "ab"),
        ("substr(123456, 1, 2)", "23"),
        ("substr('abc', '1', '1')", "b"),
        ("replace('a-b-c', '-', '/')", "a/b/c"),
        ("replace('aaa', 'a', '')", ""),
        ("split('a/b/c', '/', 0)", "a"),
        ("split('a/b/c', '/', 2)", "c"),
        ("split('a/b/c', '/', -1)", "c"),
        ("split('a/b/c', '/', 3)", None),
        ("split('a/b/c', '/', -4)", None),
        ("split('a::b', '::', 1)", "b"),
        ("split('abc', '/', 0)", "abc"),
        ("coalesce(null, missing, 'x', 'y')", "x"),
        ("coalesce(null, missing)", None),
        ("coalesce('', 'x')", ""),
        ("if(true, 'yes', 'no')", "yes"),
        ("if(false, 'yes', 'no')", "no"),
        ("if(null, 'yes', 'no')", "no"),
        ("if(1 < 2, 1, 2)", D("1")),
        ("number('12.50')", D("12.50")),
        ("number(' -3e2 ')", D("-300")),
        ("number('+.5')", D("0.5")),
        ("number('')", None),
        ("number('   ')", None),
        ("number(null)", None),
        ("number(7)", D("7")),
        ("text(12)", "12"),
        ("text(1.50)", "1.50"),
        ("text(1e3)", "1000"),
        ("text(0.0000001)", "0.0000001"),
        ("text(true)", "true"),
        ("text(null)", None),
        ("text('x')", "x"),
        ("round(2.5)", D("2")),
        ("round(3.5)", D("4")),
        ("round(-2.5)", D("-2")),
        ("round(1.005, 2)", D("1.00")),
        ("round(1.015, 2)", D("1.02")),
        ("round(1.23456, 3)", D("1.235")),
        ("round(1250, -2)", D("1200")),
        ("round('2.675', 2)", D("2.68")),
        ("round(null)", None),
        ("round(1, null)", None),
        ("abs(-2.50)", D("2.50")),
        ("abs(3)", D("3")),
        ("abs('-1')", D("1")),
        ("abs(null)", None),
        ("min(3, 1, 2)", D("1")),
        ("max(3, 1, 2)", D("3")),
        ("min(5)", D("5")),
        ("min(null, 2, missing)", D("2")),
        ("max(null, missing)", None),
        ("max('10', 9)", D("10")),
        ("max(-1, '')", D("-1")),
    ],
)
def test_functions(text: str, value: Any) -> None:
    record = {"a": "Mixed Case", "items": [1, 2, 3], "obj": {"k": "v"}}
    result = ev(text, record)
    assert result == value
    assert type(result) is type(value)


def test_round_keeps_the_requested_places() -> None:
    assert str(ev("round(2, 2)")) == "2.00"
    assert str(ev("round(a, 4)", {"a": "0.123456"})) == "0.1235"


def test_min_and_max_of_dates() -> None:
    record = {"a": "2024-01-05", "b": "2023-12-31"}
    earliest = ev("min(date(a, '%Y-%m-%d'), date(b, '%Y-%m-%d'), null)", record)
    latest = ev("max(date(a, '%Y-%m-%d'), date(b, '%Y-%m-%d'))", record)
    assert earliest == datetime(2023, 12, 31, tzinfo=UTC)
    assert latest == datetime(2024, 1, 5, tzinfo=UTC)
    assert "date 2024-01-05" in eval_error("max(date(a, '%Y-%m-%d'), 1)", record)


def test_if_is_lazy() -> None:
    assert ev("if(a > 0, number(a) * 2, 1 / 0)", {"a": "2"}) == D("4")
    assert ev("if(a > 0, 1 / 0, 'small')", {"a": "-1"}) == "small"
    assert ev("if(a == null, 'none', number(a))", {}) == "none"
    assert "'/': division by zero" in eval_error("if(true, 1 / 0, 0)")


def test_coalesce_stops_at_the_first_value() -> None:
    assert ev("coalesce(a, 1 / 0)", {"a": "x"}) == "x"
    assert "division by zero" in eval_error("coalesce(a, 1 / 0)")


def test_text_of_structures_and_floats() -> None:
    record = {"items": [1, D("1.5"), {"x": None}], "f": 1.0, "n": 10**30, "big": D("1e200")}
    assert ev("text(items)", record) == '[1, 1.5, {"x": null}]'
    assert ev("text(f)", record) == "1.0"
    assert ev("text(n)", record) == "1" + "0" * 30
    assert ev("text(big)", record) == "1E+200"  # not two hundred zeros


def test_number_errors_name_the_text() -> None:
    assert eval_error("number(a)", {"a": "12 EUR"}) == (
        "number(): '12 EUR' is not a number at column 1 in 'number(a)'"
    )
    assert "number(): true is not a number" in eval_error("number(true)")
    assert "number(): 'Infinity' is not a number" in eval_error("number('Infinity')")
    assert "a list is not a number" in eval_error("number(a)", {"a": [1]})
    long_text = "x" * 500
    message = eval_error("number(a)", {"a": long_text})
    assert "'xxxxx" in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("substr('abc', 1.5)", "substr(): start must be a whole number"),
        ("substr('abc', 'x')", "substr(): 'x' is not a number"),
        ("substr('abc', 0, -1)", "substr(): length must be a whole number from 0"),
        ("replace('abc', '', 'x')", "replace(): the text to replace is empty"),
        ("split('abc', '', 0)", "split(): the separator is empty"),
        ("split('abc', '/', 0.5)", "split(): index must be a whole number"),
        ("round(1, 0.5)", "round(): digits must be a whole number from -100 to 100"),
        ("round(1, 101)", "round(): digits must be a whole number from -100 to 100"),
        ("round(a, 40)", "round(): 123456789 rounded to 40 digits has too many digits"),
        ("round('x')", "round(): 'x' is not a number"),
        ("abs('x')", "abs(): 'x' is not a number"),
        ("min('x', 1)", "min(): 'x' is not a number"),
        ("max(true)", "max(): true is not a number"),
    ],
)
def test_function_errors(text: str, message: str) -> None:
    assert message in eval_error(text, {"a": "123456789"})


def test_blank_text_positions_give_null() -> None:
    assert ev("substr('abc', a)", {"a": " "}) is None
    assert ev("substr('abc', 0, a)", {"a": ""}) is None
    assert ev("split('a/b', '/', a)", {"a": ""}) is None


def test_odd_decimals_in_records_are_errors_not_crashes() -> None:
    assert "'-': sNaN is not a finite number" in eval_error("-a", {"a": D("sNaN")})
    assert "'<'" in eval_error("a < 1", {"a": D("NaN")})
    assert "round(): NaN is not a finite number" in eval_error("round(a)", {"a": D("NaN")})
    assert "epoch(): Infinity is not a finite number" in eval_error("epoch(a)", {"a": D("Inf")})
    for value in (D("sNaN"), D("NaN"), D("Infinity")):
        for text in ("a * 2", "a == 1", "abs(a)", "text(a)", "a & ''"):
            try:
                ev(text, {"a": value})
            except ExpressionError as exc:
                assert str(exc).endswith(f"in '{text}'")


def test_null_arguments_give_null() -> None:
    for text in [
        "upper(a)",
        "lower(a)",
        "trim(a)",
        "length(a)",
        "substr(a, 1)",
        "substr('abc', a)",
        "substr('abc', 1, a)",
        "replace(a, 'x', 'y')",
        "replace('x', a, 'y')",
        "replace('x', 'x', a)",
        "split(a, '/', 0)",
        "split('a', a, 0)",
        "split('a', '/', a)",
        "regex(a, 'x')",
        "regex('x', a)",
        "regex('x', 'x', a)",
        "number(a)",
        "text(a)",
        "round(a)",
        "abs(a)",
        "sum(a)",
        "sum(list, a)",
        "convert(a, 'GB', 'MB')",
        "convert(1, a, 'MB')",
        "convert(1, 'GB', a)",
        "date(a, '%Y')",
        "date('2024', a)",
        "epoch(a)",
    ]:
        assert ev(text, {"list": [1]}) is None, text


# --- regex -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("regex(a, '[0-9]{2,}')", "1234"),
        ("regex(a, 'i-([0-9a-f]+)', 1)", "0abc"),
        ("regex(a, 'i-([0-9a-f]+)', '1')", "0abc"),
        ("regex(a, '(?P<zone>[a-z]+-[a-z]+-[0-9])', 'zone')", "us-east-1"),
        ("regex(a, 'nothing')", None),
        ("regex(a, '(x)?i-', 1)", None),  # a group that took no part
        ("regex(a, '\\d+')", "1"),  # the first match
        ("regex(a, b)", "us"),
        ("regex(1234, '3')", "3"),
    ],
)
def test_regex(text: str, value: Any) -> None:
    record = {"a": "arn:us-east-1:1234:i-0abc", "b": "u[a-z]"}
    assert ev(text, record) == value


def test_bad_literal_patterns_fail_at_compile_time() -> None:
    assert "regex(): bad pattern '(': missing )" in compile_error("regex(a, '(')")
    assert "column 10" in compile_error("regex(a, '(')")
    too_long = "a" * 501
    assert "longer than 500 characters" in compile_error(f"regex(a, '{too_long}')")
    compile_expression(f"regex(a, '{'a' * 500}')")
    assert "the pattern has no group 2" in compile_error("regex(a, '(x)', 2)")
    assert "the pattern has no group named 'nope'" in compile_error("regex(a, '(x)', 'nope')")
    assert "group must be a whole number" in compile_error("regex(a, '(x)', -1)")


def test_bad_dynamic_patterns_fail_at_evaluation() -> None:
    assert "regex(): bad pattern '['" in eval_error("regex('x', p)", {"p": "["})
    assert "longer than 500" in eval_error("regex('x', p)", {"p": "x" * 501})
    assert "has no group 3" in eval_error("regex('x', '(x)', g)", {"g": 3})


# --- sum ---------------------------------------------------------------------------------------


def test_sum() -> None:
    record = {
        "numbers": [1, "2.5", D("0.25"), None, ""],
        "credits": [{"amount": -1.5}, {"amount": "-0.5", "name": "x"}, {"name": "no amount"}],
        "nested": [{"cost": {"value": 2}}, {"cost": {"value": 3}}],
        "empty": [],
    }
    assert ev("sum(numbers)", record) == D("3.75")
    assert ev("sum(credits, 'amount')", record) == D("-2.0")
    assert ev("sum(nested, 'cost.value')", record) == D("5")
    assert ev("sum(empty)", record) == D("0")
    assert ev("sum(empty, 'amount')", record) == D("0")
    assert ev("sum(missing)", record) is None
    assert ev("number(cost) + sum(credits, 'amount')", {**record, "cost": "10"}) == D("8.0")


@pytest.mark.parametrize(
    ("text", "record", "message"),
    [
        ("sum(a)", {"a": "1,2"}, "sum(): expected a list, got text '1,2'"),
        ("sum(a)", {"a": {"x": 1}}, "sum(): expected a list, got an object"),
        ("sum(a, 'x')", {"a": [1]}, "sum(): item 0 of the list is number 1, not an object"),
        ("sum(a)", {"a": ["x"]}, "sum(): 'x' is not a number"),
    ],
)
def test_sum_errors(text: str, record: dict[str, Any], message: str) -> None:
    assert message in eval_error(text, record)


# --- convert -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("convert(1, 'KB', 'B')", D("1000")),
        ("convert(1, 'MB', 'bytes')", D("1000000")),
        ("convert(1, 'GB', 'MB')", D("1000")),
        ("convert(1, 'TB', 'GB')", D("1000")),
        ("convert(1, 'PB', 'TB')", D("1000")),
        ("convert(1, 'KiB', 'B')", D("1024")),
        ("convert(1, 'MiB', 'KiB')", D("1024")),
        ("convert(1, 'GiB', 'MiB')", D("1024")),
        ("convert(1, 'TiB', 'GiB')", D("1024")),
        ("convert(1, 'PiB', 'TiB')", D("1024")),
        ("convert(1, 'GiB', 'GB')", D("1.073741824")),
        ("convert(1536, 'MiB', 'GiB')", D("1.5")),
        ("convert(1, 'gib', 'mb')", D("1073.741824")),  # case-insensitive
        ("convert(a, 'byte', 'KB')", D("2.5")),
        ("convert(90, 'min', 'h')", D("1.5")),
        ("convert(1, 'minutes', 'seconds')", D("60")),
        ("convert(1, 'month', 'hours')", D("730")),
        ("convert(1, 'month', 'd')", D("30.41666666666666666666666666666667")),
        ("convert(2, 'days', 'h')", D("48")),
        ("convert(7200, 's', 'hour')", D("2")),
        ("convert(1, 'H', 'S')", D("3600")),
        ("convert(a, u, v)", D("0.0025")),
    ],
)
def test_convert(text: str, value: Decimal) -> None:
    assert ev(text, {"a": "2500", "u": "B", "v": "MB"}) == value


def test_convert_errors() -> None:
    # literal units are checked when the expression is compiled
    assert "convert(): unknown unit 'parsecs' at column 17" in compile_error(
        "convert(a, 'h', 'parsecs')"
    )
    assert "convert(): cannot convert data (GB) to time (h) at column 1" in compile_error(
        "convert(a, 'GB', 'h')"
    )
    # units from the record are checked when evaluated
    message = eval_error("convert(a, u, 'h')", {"a": 1, "u": "GB"})
    assert "convert(): cannot convert data (GB) to time (h)" in message
    assert "unknown unit 'byte-seconds'" in eval_error("convert(1, u, 's')", {"u": "byte-seconds"})
    assert "convert(): 'x' is not a number" in eval_error("convert('x', 'GB', 'MB')")
    assert ev("convert('', 'GB', 'MB')") is None


# --- dates -------------------------------------------------------------------------------------


def test_date() -> None:
    assert ev("date(a, '%Y-%m-%d')", {"a": "2024-02-29"}) == datetime(2024, 2, 29, tzinfo=UTC)
    aware = ev("date(a, '%Y-%m-%dT%H:%M:%S%z')", {"a": "2024-01-02T03:04:05+02:00"})
    assert aware == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert aware.tzinfo is UTC
    naive = ev("date(a, f)", {"a": "01/02/2024 10:30", "f": "%d/%m/%Y %H:%M"})
    assert naive == datetime(2024, 2, 1, 10, 30, tzinfo=UTC)
    assert naive.tzinfo is UTC
    assert ev("date(a, '%Y%m%d')", {"a": 20240105}) == datetime(2024, 1, 5, tzinfo=UTC)
    assert ev("date(a, '%Y')", {"a": "  "}) is None
    already = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert ev("date(a, '%Y')", {"a": already}) == datetime(2024, 1, 1, 17, tzinfo=UTC)
    assert ev("date(a, '%Y')", {"a": datetime(2024, 1, 1)}).tzinfo is UTC


def test_date_errors() -> None:
    message = eval_error("date(a, '%Y-%m-%d')", {"a": "02/29/2024"})
    assert message == (
        "date(): '02/29/2024' does not match the format '%Y-%m-%d' "
        "at column 1 in 'date(a, '%Y-%m-%d')'"
    )
    assert "does not match" in eval_error("date('2024-02-30', '%Y-%m-%d')")
    assert "does not match" in eval_error("date('2024', '%Q')")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1704067200, datetime(2024, 1, 1, tzinfo=UTC)),
        ("1704067200", datetime(2024, 1, 1, tzinfo=UTC)),
        ("1704067200.25", datetime(2024, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        (1704067200.5, datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        (-1.5, datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_epoch(value: Any, expected: datetime | None) -> None:
    assert ev("epoch(a)", {"a": value}) == expected


def test_epoch_errors() -> None:
    assert "epoch(): 'soon' is not a number" in eval_error("epoch(a)", {"a": "soon"})
    assert "out of range" in eval_error("epoch(1e13)")
    assert "out of range" in eval_error("epoch(-1e12)")  # before year 1
    assert "out of range" in eval_error("epoch(a)", {"a": "1e999999"})


def test_dates_do_not_do_arithmetic() -> None:
    assert "'-'" in eval_error("epoch(10) - epoch(5)")
    assert "'+'" in eval_error("epoch(10) + 1")


# --- syntax errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("upper(a", "expected ')' to end the arguments of upper() at column 8 in 'upper(a'"),
        ("(a + b", "expected ')' to close the '(' of column 1 at column 7 in '(a + b'"),
        ("(a b)", "expected ')' to close the '(' of column 1, found name 'b' at column 4"),
        ("upper(a b)", "expected ',' or ')' after an argument of upper(), found name 'b'"),
        ("a b", "unexpected name 'b' (is an operator missing?) at column 3 in 'a b'"),
        ("a )", "unexpected ')' at column 3"),
        ("1 2", "unexpected number 2"),
        ("a +", "expected a value, found the end of the expression at column 4"),
        ("* a", "expected a value, found '*' at column 1"),
        ("f(a,)", "unknown function 'f' at column 1"),
        ("upper(a,)", "expected a value, found ')' at column 9"),
        ("upper(,a)", "expected a value, found ','"),
        ("'abc", "unterminated string at column 1 in ''abc'"),
        ('a & "abc', "unterminated string at column 5"),
        ("'abc\\'", "unterminated string"),
        ("`abc", "unterminated field name at column 1"),
        ("``", "empty field name at column 1"),
        ("", "empty expression at column 1"),
        ("   ", "empty expression"),
        ("a = 1", "'=' is not an operator (compare with '==') at column 3"),
        ("!a", "'!' is not an operator (negate with 'not')"),
        ("a || b", "'|' is not an operator (use 'or')"),
        ("a && b", "expected a value, found '&' at column 4"),
        ("a ^ 2", "unexpected character '^' at column 3"),
        ("a ** 2", "expected a value, found '*' at column 4"),
        ("a; b", "unexpected character ';'"),
        ("{}", "unexpected character '{'"),
        ("café", "unexpected character 'é' (put such field names in `backticks`) at column 4"),
        ("1.2.3", "malformed number at column 1"),
        ("12abc", "malformed number at column 1"),
        ("1e", "malformed number"),
        ("1e1001", "number out of range"),
        ("a < b < c", "comparisons cannot be chained (combine them with 'and') at column 7"),
        ("a == b != c", "comparisons cannot be chained"),
        ("a == not b", "'not' needs parentheses here: not (...) at column 6"),
        ("not", "expected a value, found the end of the expression"),
        ("- ", "expected a value, found the end of the expression"),
        ("()", "expected a value, found ')' at column 2"),
        ("nope(1)", "unknown function 'nope' at column 1"),
        ("a.upper(1)", "unknown function 'a.upper'"),
        ("`upper`(a)", "unexpected '(' (is an operator missing?)"),
        ("a `b\nc`", "unexpected field 'b\\nc' (is an operator missing?) at line 1, column 3"),
        ("upper()", "upper() takes 1 argument, got 0 at column 1"),
        ("upper(a, b)", "upper() takes 1 argument, got 2"),
        ("substr('a')", "substr() takes 2 or 3 arguments, got 1"),
        ("substr('a', 1, 2, 3)", "substr() takes 2 or 3 arguments, got 4"),
        ("replace('a', 'b')", "replace() takes 3 arguments, got 2"),
        ("split('a', 'b')", "split() takes 3 arguments, got 2"),
        ("regex('a')", "regex() takes 2 or 3 arguments, got 1"),
        ("if(true, 1)", "if() takes 3 arguments, got 2"),
        ("coalesce()", "coalesce() takes at least 1 argument, got 0"),
        ("concat()", "concat() takes at least 1 argument, got 0"),
        ("min()", "min() takes at least 1 argument, got 0"),
        ("max()", "max() takes at least 1 argument, got 0"),
        ("round()", "round() takes 1 or 2 arguments, got 0"),
        ("sum(a, 'b', 'c')", "sum() takes 1 or 2 arguments, got 3"),
        ("convert(1, 'GB')", "convert() takes 3 arguments, got 2"),
        ("date('2024')", "date() takes 2 arguments, got 1"),
        ("epoch()", "epoch() takes 1 argument, got 0"),
        ("number(1, 2)", "number() takes 1 argument, got 2"),
        ("text()", "text() takes 1 argument, got 0"),
        ("abs(1, 2)", "abs() takes 1 argument, got 2"),
        ("length(1, 2)", "length() takes 1 argument, got 2"),
        ("lower()", "lower() takes 1 argument, got 0"),
        ("trim()", "trim() takes 1 argument, got 0"),
        ("upper(a) & upper(b, c)", "upper() takes 1 argument, got 2 at column 12"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    assert message in compile_error(text)


def test_error_messages_are_one_line_with_a_line_and_column() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("if(a,\n  1,\n  upper(b c))")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("expected ',' or ')' after an argument of upper()")
    assert "at line 3, column 11 in 'if(a,   1,   upper(b c))'" in message
    assert info.value.column == 11
    assert info.value.source == "if(a,\n  1,\n  upper(b c))"
    evaluation = eval_error("a\n* 2", {"a": "x\ny"})
    assert "\n" not in evaluation
    assert evaluation == "'*': 'x\\ny' is not a number at line 2, column 1 in 'a * 2'"


def test_long_expressions_are_quoted_around_the_error() -> None:
    text = " + ".join(["a"] * 100) + " + (b"
    message = compile_error(text)
    assert message.endswith("+ a + a + a + (b'")
    assert "'..." in message
    assert len(message) < 200


def test_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)
    with pytest.raises(ValueError, match="unknown function"):
        compile_expression("nope()")


# --- nothing can run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "unexpected '.' (there is no attribute access"),
        ("eval('1')", "unknown function 'eval'"),
        ("exec('x = 1')", "unknown function 'exec'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("getattr(a, 'x')", "unknown function 'getattr'"),
        ("globals()", "unknown function 'globals'"),
        ("a.__class__.__bases__(0)", "unknown function 'a.__class__.__bases__'"),
        ("'a'.upper()", "unexpected '.' (there is no attribute access"),
        ("upper(a).__class__", "unexpected '.'"),
        ("(1).real", "unexpected '.'"),
        ("''.__class__.__mro__", "unexpected '.'"),
        ("a[0]", "unexpected '[' (there is no indexing"),
        ("lambda: 1", "unexpected character ':'"),
        ("[x for x in a]", "unexpected '['"),
        ("import os", "unexpected name 'os'"),
        ("a if b else c", "unexpected name 'if'"),
        ("f'{a}'", "unexpected string"),
        ("a = __import__", "'=' is not an operator"),
        ("`a`.b", "unexpected '.'"),
    ],
)
def test_python_does_not_leak_through(text: str, message: str) -> None:
    assert message in compile_error(text)


def test_dotted_names_never_read_attributes() -> None:
    touched: list[str] = []

    class Sneaky:
        @property
        def secret(self) -> str:
            touched.append("secret")
            return "leaked"

    record = {"obj": Sneaky(), "n": 5, "s": "text"}
    for text in ["obj.secret", "obj.__class__", "n.real", "s.__class__.__name__", "obj.__dict__"]:
        assert ev(text, record) is None, text
    assert touched == []


def test_no_python_evaluation_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the expression language must not call Python's compiler")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(ast, "parse", forbidden)
    record = {"a": "2", "b": "x-y", "l": [{"v": 1}]}
    expression = compile_expression(
        "if(number(a) > 1, upper(split(b, '-', 1)) & regex(b, '(\\w)-', 1), 'no')"
        " & text(round(sum(l, 'v') * 1.5, 1)) & text(convert(1, 'GiB', 'MiB'))"
        " & text(date('2024', '%Y')) & text(epoch(0))"
    )
    assert expression.evaluate(record) == (
        "Yx1.510242024-01-01T00:00:00+00:001970-01-01T00:00:00+00:00"
    )


# --- limits ------------------------------------------------------------------------------------


def test_length_limit() -> None:
    longest = "'" + "x" * (MAX_LENGTH - 2) + "'"
    assert len(ev(longest)) == MAX_LENGTH - 2
    with pytest.raises(ExpressionError) as info:
        compile_expression(longest + " ")
    assert str(info.value) == (
        f"expression too long: {MAX_LENGTH + 1} characters, at most {MAX_LENGTH} are allowed"
    )


def nested(levels: int, *wrappers: str, inner: str = "a") -> str:
    """``inner`` inside ``levels`` wrappers (``{}`` marks the hole), cycling outermost first."""
    text = inner
    for level in reversed(range(levels)):
        text = wrappers[level % len(wrappers)].replace("{}", text)
    return text


@pytest.mark.parametrize(
    "nest",
    [
        lambda n: nested(n, "({})"),
        lambda n: nested(n, "upper({})"),
        lambda n: nested(n, "-{}"),
        lambda n: nested(n, "not {}"),
        lambda n: nested(n, "(a + {})"),
        lambda n: nested(n, "if(a, {}, a)"),
        lambda n: nested(n, "coalesce(a, {})", "-{}", "({})", "not {}", "a & upper({})"),
    ],
)
def test_depth_limit(nest: Any) -> None:
    compile_expression(nest(MAX_DEPTH))
    message = compile_error(nest(MAX_DEPTH + 1))
    assert f"expression nested too deeply (more than {MAX_DEPTH} levels) at column" in message


def test_deepest_expressions_fit_in_a_small_stack() -> None:
    """Even the deepest expressions parse, compile and evaluate within 250 stack frames."""
    deepest = [
        nested(MAX_DEPTH, "({})"),
        nested(MAX_DEPTH, "upper({})"),
        nested(MAX_DEPTH, "-{}", "({})", inner="b"),
        nested(MAX_DEPTH, "not {}", "({})", inner="c"),
        nested(MAX_DEPTH, "(1 * b + {})", inner="1"),
        nested(MAX_DEPTH, "if(c, {}, a)"),
        nested(MAX_DEPTH, "text(b) & ({})"),
        nested(MAX_DEPTH, "coalesce(null, {})", "-{}", "({})", "b * {}", inner="b"),
    ]
    depth = 0
    frame = sys._getframe()
    while frame.f_back is not None:
        depth += 1
        frame = frame.f_back
    limit = sys.getrecursionlimit()
    results = []
    sys.setrecursionlimit(depth + 250)
    try:
        for text in deepest:
            results.append(compile_expression(text).evaluate({"a": "x", "b": "1", "c": True}))
    finally:
        sys.setrecursionlimit(limit)
    assert results[:2] == ["x", "X"]
    assert results[2] == D("-1")  # 25 minus signs
    assert results[3] is False  # 25 nots
    assert results[4] == D(MAX_DEPTH + 1)
    assert results[5] == "x"
    assert results[6] == "1" * MAX_DEPTH + "x"


# --- speed -------------------------------------------------------------------------------------


def test_evaluation_is_fast() -> None:
    expression = compile_expression("number(a) * 1.1 + number(b)")
    record = {"a": "12.5", "b": "3"}
    assert expression.evaluate(record) == D("16.75")
    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        expression.evaluate(record)
    per_call = (time.perf_counter() - started) / runs
    assert per_call < 50e-6  # a few microseconds in practice; generous for slow machines


# --- properties --------------------------------------------------------------------------------


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@given(st.text(max_size=200))
def test_any_text_round_trips_through_a_string_literal(text: str) -> None:
    assert ev(quote(text)) == text
    assert ev('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"') == text
    assert ev("a & " + quote(text), {"a": "x"}) == "x" + text


@given(st.text(min_size=1, max_size=100))
def test_any_field_name_can_be_written_in_backticks(name: str) -> None:
    written = "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"
    expression = compile_expression(written)
    assert expression.names == {name}
    assert expression.evaluate({name: 42}) == 42


# small enough for every product to be exact (24 digits at most)
finite = st.decimals(
    min_value=D("-1e6"), max_value=D("1e6"), allow_nan=False, allow_infinity=False, places=6
)


@given(finite, finite, finite)
def test_arithmetic_matches_decimal(a: Decimal, b: Decimal, c: Decimal) -> None:
    record = {"a": str(a), "b": b, "c": float(c)}
    c_exact = D(str(float(c)))
    assert ev("number(a) + b * c", record) == a + b * c_exact
    assert ev("(a - b) * -c", record) == (a - b) * -c_exact
    assert ev("a * 2 == a + a", {"a": a}) is True
    assert ev("a < b", record) is (a < b)
    assert ev("number(text(a)) == a", {"a": a}) is True
    if b:
        assert ev("a / b * b", record) == pytest.approx(a, abs=D("1e-12"))
        exact = Fraction(a) - Fraction(b) * math.floor(Fraction(a) / Fraction(b))
        assert Fraction(ev("a % b", record)) == exact


@given(finite)
def test_number_literals_read_back(value: Decimal) -> None:
    assert ev(str(value)) == value
    assert ev(format(value, "f")) == value


_PIECES = [
    "a",
    "b",
    "n",
    "`x y`",
    "1",
    "2.5",
    "0",
    "'t'",
    '"u"',
    "true",
    "null",
    "not",
    "and",
    "or",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "==",
    "!=",
    "<",
    ">=",
    "upper(",
    "number(",
    "if(",
    "coalesce(",
    "substr(",
    "round(",
    "regex(",
    "convert(",
    "sum(",
    "date(",
    "epoch(",
    "'GB'",
    "'h'",
    "'%Y'",
    "l",
    "a.0",
    "=",
    ".",
    "'",
    "`",
    "\\",
    "\n",
]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(_PIECES), max_size=25), st.booleans())
def test_random_token_soup_fails_cleanly(pieces: list[str], spaced: bool) -> None:
    text = (" " if spaced else "").join(pieces)
    try:
        expression = compile_expression(text)
    except ExpressionError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(expression, Expression)
    for record in (
        {},
        {"a": "1", "b": "x", "n": None, "x y": 3, "l": [1, {"v": 2}]},
        {"a": 1.5, "b": True, "n": [1], "x y": {"k": 1}, "l": "nope"},
    ):
        try:
            expression.evaluate(record)
            expression.evaluate(record, strict=True)
        except ExpressionError as exc:
            assert "\n" not in str(exc)


_LEAVES = ["a", "b", "n", "`x y`", "l", "l.0", "l.0.v", "1", "0", "2.5", "-1", "1e5", "'t'"]
_LEAVES += ["'GB'", "'MiB'", "'h'", "'%Y'", "'(x)'", "'/'", "''", "true", "false", "null"]
_OPERATORS = ["+", "-", "*", "/", "%", "&", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
_FUNCTION_ARITY = {
    "upper": (1, 1),
    "lower": (1, 1),
    "trim": (1, 1),
    "length": (1, 1),
    "concat": (1, 3),
    "substr": (2, 3),
    "replace": (3, 3),
    "split": (3, 3),
    "regex": (2, 3),
    "coalesce": (1, 3),
    "if": (3, 3),
    "number": (1, 1),
    "text": (1, 1),
    "round": (1, 2),
    "abs": (1, 1),
    "min": (1, 3),
    "max": (1, 3),
    "sum": (1, 2),
    "convert": (3, 3),
    "date": (2, 2),
    "epoch": (1, 1),
}


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def call(name: str) -> st.SearchStrategy[str]:
        low, high = _FUNCTION_ARITY[name]
        arguments = st.lists(children, min_size=low, max_size=high)
        return arguments.map(lambda args: f"{name}({', '.join(args)})")

    binary = st.tuples(children, st.sampled_from(_OPERATORS), children)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "not "]), children).map(lambda t: f"({t[0]}({t[1]}))"),
        st.sampled_from(sorted(_FUNCTION_ARITY)).flatmap(call),
    )


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=8),
    st.sampled_from(["1", " 2.5 ", "", "1e999999", "GB", "h", "%Y", "(", "2024"]),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.lists(
        st.one_of(st.integers(), st.text(max_size=3), st.fixed_dictionaries({"v": st.integers()}))
    ),
    st.dictionaries(st.sampled_from(["0", "v"]), st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(st.sampled_from(_LEAVES), _grow, max_leaves=10),
    st.fixed_dictionaries({"a": _values, "b": _values, "n": _values, "x y": _values, "l": _values}),
)
def test_random_well_formed_expressions_only_raise_expression_errors(
    text: str, record: dict[str, Any]
) -> None:
    try:
        expression = compile_expression(text)
    except ExpressionError as exc:  # too long, or a literal unit, pattern or count that is wrong
        assert any(
            reason in str(exc)
            for reason in ("too long", "unit", "pattern", "cannot convert", "whole number")
        ), exc
        return
    for strict in (False, True):
        try:
            expression.evaluate(record, strict=strict)
        except ExpressionError as exc:
            assert "\n" not in str(exc)
            assert "column" in str(exc)


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_random_text_fails_cleanly(text: str) -> None:
    try:
        expression = compile_expression(text)
        assert isinstance(expression, Expression)
        expression.evaluate({"a": "1"})
    except ExpressionError as exc:
        assert "\n" not in str(exc)
        assert " in '" in str(exc) or "too long" in str(exc)
