r"""A small, safe expression language for declarative billing-file mappings.

A mapping file says how to compute each field of a billing line from a CSV row or a JSON record,
for example ``cost = "number(`Cost (USD)`) * 1.1"``. :func:`compile_expression` parses such a
text once (its own tokenizer and recursive-descent parser: user text never reaches ``eval``,
``exec``, ``compile`` or ``ast``) into a tree of small closures, and
:meth:`Expression.evaluate` runs that tree on one record at a time.

Values
    Numbers are :class:`decimal.Decimal`, exact, never ``float`` (34 significant digits for
    results that cannot be exact, such as ``1 / 3``): ``12``, ``1.5``, ``.5``, ``1e3``.
    Strings use single or double quotes; ``\'``, ``\"`` and ``\\`` are the only escapes, any
    other backslash stays as written (so ``regex(a, '\d+')`` works). Then ``true``, ``false``
    and ``null`` (keywords are case-insensitive), and dates (aware UTC
    :class:`datetime.datetime`) made by ``date()`` and ``epoch()``.

    Record values come as CSV or JSON gave them (text, ``int``, ``float``, ``Decimal``,
    ``bool``, ``None``, objects, arrays); ``int`` and ``float`` (through its shortest text)
    count as numbers. As text (``&``, ``text()``), numbers are written without an exponent,
    dates in ISO 8601, arrays and objects as JSON.

Fields
    A bare name ``[A-Za-z_][A-Za-z0-9_]*``, with ``.`` or ``/`` between further parts, is one
    field: ``lineItem/UnblendedCost``, ``cost.amount``. Any other field name goes in
    backticks, as in number(`Cost (USD)`); a backslash escapes a backtick or a backslash there.
    A name is looked up as a key of the record first; if there is no such key and the name has
    dots, it walks the nested objects and arrays of a JSON record: ``service.description``,
    ``credits.0.amount``. A missing field is ``null`` (``evaluate(record, strict=True)`` makes
    it an error instead). Since ``/`` belongs to names, divide with spaces: ``a / b``.

Operators, loosest first
    ``or``; ``and``; ``not``; comparisons ``== != < <= > >=`` (not chained); ``&``; ``+ -``;
    ``* / %``; unary ``-``; parentheses. ``and``, ``or``, ``not`` and the condition of ``if``
    take ``true``, ``false`` or ``null`` (counted as false), anything else is an error.

    ``+`` adds numbers or joins two texts; text plus number is an error (convert with
    ``number()``, or join with ``&``). ``- * / %`` convert text operands as ``number()`` does;
    ``%`` has the sign of the divisor (``-7 % 3`` is ``2``); dividing by zero is an error.
    ``&`` joins the text of both sides, ``null`` counting as empty text.

``null``
    Arithmetic with a ``null`` operand is ``null``; ``<``, ``<=``, ``>``, ``>=`` with a ``null``
    operand are false; ``==`` and ``!=`` treat ``null`` as a value equal only to itself, so
    ``x == null`` tests for it. Equality between a number and text compares the text's number
    (false when it is not one); other mixed types are never equal. Ordering compares two numbers,
    a number with numeric text, two texts (alphabetically) or two dates; anything else is an
    error. Functions return ``null`` for a ``null`` argument unless said otherwise.

Functions (names are case-insensitive)
    ``upper(s)``, ``lower(s)``, ``trim(s)``, ``length(s)`` (also of a list or object),
    ``concat(a, ...)`` (``null`` is empty text), ``substr(s, start, length?)`` (0-based, a
    negative start counts from the end), ``replace(s, old, new)``, ``split(s, sep, index)``
    (0-based, negative from the end, ``null`` when there is no such part),
    ``regex(s, pattern, group?)`` (first match, group 0 or a group number or name, ``null``
    when nothing matches; patterns of at most 500 characters), ``coalesce(a, ...)`` (the first
    non-``null``), ``if(cond, a, b)`` (evaluates only the branch taken), ``number(x)`` (text to
    number, blank text is ``null``), ``text(x)``, ``round(x, digits?)`` (half to even),
    ``abs(x)``, ``min(a, ...)``, ``max(a, ...)`` (``null`` arguments are ignored),
    ``sum(list, field?)`` (of a JSON array, or of one field of each of its objects; ``0`` when
    empty), ``convert(x, from_unit, to_unit)`` (data ``B``/``bytes``, ``KB`` ... ``PB`` by 1000,
    ``KiB`` ... ``PiB`` by 1024; time ``s``, ``min``, ``h``, ``d``, ``month`` = 730 hours, and
    their long names; case-insensitive), ``date(text, format)`` (:meth:`datetime.strptime`
    format, UTC unless the text has an offset) and ``epoch(seconds)`` (to a UTC date).

Limits and errors
    An expression has at most 2,000 characters and 50 levels of nesting (parentheses, function
    calls, unary operators). Errors are :class:`ExpressionError` with a one-line message that
    says where: ``expected ')' to end the arguments of upper() at column 8 in 'upper(a'``.
    Syntax errors, unknown functions, wrong argument counts and bad literal regex patterns or
    units are reported by :func:`compile_expression`, before any record is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from functools import lru_cache
from math import isfinite
from typing import Any, Final, NamedTuple

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Expression", "ExpressionError", "compile_expression"]

MAX_LENGTH: Final = 2000
MAX_DEPTH: Final = 50
MAX_PATTERN: Final = 500

_EXCERPT = 80  # longest piece of the expression quoted in a message
_CTX = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_LIMIT = Decimal(10**12)  # seconds; far beyond year 9999
_MILLION = Decimal(1_000_000)
_BIG_INT = 10**100  # larger integers are written with an exponent, as large Decimals are
_MISSING: Any = object()
_OMITTED: Any = object()  # an optional argument that was not written

Record = Mapping[str, Any]
_Eval = Callable[[Record], Any]


class ExpressionError(ValueError):
    """An expression cannot be parsed or evaluated; the message is one line and names the column.

    ``source`` is the expression and ``column`` the 1-based column (on its line) of the error,
    when there is one.
    """

    def __init__(
        self, message: str, *, source: str | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.source = source
        self.column = column


class _Fail(Exception):
    """A value error without a position: the node that called the helper adds its own."""


class _Located(Exception):
    """An error at offset ``pos`` of the source."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _error(message: str, source: str, pos: int) -> ExpressionError:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    where = f"line {line}, column {column}" if "\n" in source else f"column {column}"
    return ExpressionError(
        f"{message} at {where} in {_excerpt(source, pos)}", source=source, column=column
    )


def _excerpt(source: str, pos: int) -> str:
    flat = "".join(c if c.isprintable() else " " for c in source)
    if len(flat) > _EXCERPT:
        start = max(0, min(pos - _EXCERPT // 2, len(flat) - _EXCERPT))
        end = start + _EXCERPT
        flat = ("..." if start else "") + flat[start:end] + ("..." if end < len(flat) else "")
    return f"'{flat}'"


# --- tokens ------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # number, string, name, field, op, keyword, end
    value: Any
    pos: int


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z0-9_]+)*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD_CHAR = re.compile(r"[A-Za-z0-9_.]")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "&", "(", ")", ",")
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null"})
_SPACE = frozenset(" \t\r\n")
_HINTS = {
    "=": "'=' is not an operator (compare with '==')",
    "!": "'!' is not an operator (negate with 'not')",
    "|": "'|' is not an operator (use 'or')",
    ".": "unexpected '.' (there is no attribute access; a dotted field is one name: a.b)",
    "[": "unexpected '[' (there is no indexing; write a JSON path as a name: items.0.cost)",
}


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in _SPACE:
            i += 1
            continue
        if c.isascii() and (c.isdigit() or (c == "." and source[i + 1 : i + 2].isdigit())):
            match = _NUMBER.match(source, i)
            assert match is not None
            end = match.end()
            if end < n and _WORD_CHAR.match(source, end):
                raise _Located("malformed number", i)
            exponent = re.search(r"[eE]([+-]?[0-9]+)$", match.group())
            if exponent and abs(int(exponent.group(1))) > 1000:
                raise _Located("number out of range", i)
            tokens.append(_Token("number", Decimal(match.group()), i))
            i = end
            continue
        if c == "_" or (c.isascii() and c.isalpha()):
            match = _NAME.match(source, i)
            assert match is not None
            word = match.group()
            if word.lower() in _KEYWORDS:
                tokens.append(_Token("keyword", word.lower(), i))
            else:
                tokens.append(_Token("name", word, i))
            i = match.end()
            continue
        if c in "'\"":
            text, i2 = _read_quoted(source, i, c, "'\"\\", "string")
            tokens.append(_Token("string", text, i))
            i = i2
            continue
        if c == "`":
            text, i2 = _read_quoted(source, i, c, "`\\", "field name")
            if not text:
                raise _Located("empty field name", i)
            tokens.append(_Token("field", text, i))
            i = i2
            continue
        for op in _OPERATORS:
            if source.startswith(op, i):
                tokens.append(_Token("op", op, i))
                i += len(op)
                break
        else:
            if c in _HINTS:
                raise _Located(_HINTS[c], i)
            if c.isprintable() and not c.isascii():
                raise _Located(
                    f"unexpected character {c!r} (put such field names in `backticks`)", i
                )
            raise _Located(f"unexpected character {c!r}", i)
    tokens.append(_Token("end", None, n))
    return tokens


def _read_quoted(source: str, start: int, quote: str, escapes: str, what: str) -> tuple[str, int]:
    out: list[str] = []
    i, n = start + 1, len(source)
    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n and source[i + 1] in escapes:
            out.append(source[i + 1])
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _Located(f"unterminated {what}", start)


def _describe_token(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind == "number":
        return f"number {_format_decimal(token.value)}"
    if token.kind == "string":
        return f"string {_short(token.value)}"
    if token.kind == "name":
        return f"name {token.value!r}"
    if token.kind == "field":
        return f"field {_short(token.value)}"
    return f"'{token.value}'"


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Unary:
    op: str  # "-" or "not"
    operand: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Chain:
    """Left-associative operators of one precedence level: ``a + b - c``; flat, not nested."""

    operands: tuple[_Node, ...]
    ops: tuple[str, ...]
    op_positions: tuple[int, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Node
    right: _Node
    op_pos: int
    pos: int


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str  # "and" or "or"
    operands: tuple[_Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    pos: int


_Node = _Literal | _Field | _Unary | _Chain | _Compare | _Logic | _Call


# --- parser ------------------------------------------------------------------------------------


class _Parser:
    """Precedence climbing over :data:`_LEVELS`; operators of one level make one flat node."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0
        self.names: set[str] = set()

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise _Located("empty expression", 0)
        node = self.parse_expression(0)
        token = self.peek()
        if token.kind != "end":
            hint = ""
            if token.kind in ("name", "field", "number", "string", "keyword") or token.value == "(":
                hint = " (is an operator missing?)"
            raise _Located(f"unexpected {_describe_token(token)}{hint}", token.pos)
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_op(self, value: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "op" and token.value == value

    def level_of(self, token: _Token) -> int:
        if token.kind in ("op", "keyword"):
            return _LEVELS.get(token.value, -1)
        return -1

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Located(f"expression nested too deeply (more than {MAX_DEPTH} levels)", pos)

    def parse_expression(self, level: int) -> _Node:
        """Operators of ``level`` and tighter; each loop handles one looser level than before."""
        left = self.parse_operand(level)
        while True:
            token = self.peek()
            op_level = self.level_of(token)
            if op_level < level:
                return left
            if op_level == _COMPARE_LEVEL:
                self.take()
                right = self.parse_expression(op_level + 1)
                if self.level_of(self.peek()) == _COMPARE_LEVEL:
                    raise _Located(
                        "comparisons cannot be chained (combine them with 'and')", self.peek().pos
                    )
                left = _Compare(token.value, left, right, token.pos, left.pos)
                continue
            operands, ops, positions = [left], [], []
            while self.level_of(self.peek()) == op_level:
                op = self.take()
                ops.append(op.value)
                positions.append(op.pos)
                operands.append(self.parse_expression(op_level + 1))
            if op_level <= _AND_LEVEL:
                left = _Logic(token.value, tuple(operands), left.pos)
            else:
                left = _Chain(tuple(operands), tuple(ops), tuple(positions), left.pos)

    def parse_operand(self, level: int) -> _Node:
        """A prefix operator allowed at ``level`` with its operand, or a value."""
        token = self.take()
        kind, value = token.kind, token.value
        if kind == "keyword" and value == "not" and level <= _NOT_LEVEL:
            self.enter(token.pos)
            operand = self.parse_expression(_NOT_LEVEL)
            self.depth -= 1
            return _Unary("not", operand, token.pos)
        if kind == "op" and value == "-":
            self.enter(token.pos)
            operand = self.parse_expression(_MINUS_LEVEL)
            self.depth -= 1
            if isinstance(operand, _Literal) and type(operand.value) is Decimal:
                return _Literal(-operand.value, token.pos)
            return _Unary("-", operand, token.pos)
        if kind in ("number", "string"):
            return _Literal(value, token.pos)
        if kind == "keyword" and value in _CONSTANTS:
            return _Literal(_CONSTANTS[value], token.pos)
        if kind == "name" and self.at_op("("):
            return self.parse_call(token)
        if kind in ("name", "field"):
            self.names.add(value)
            return _Field(value, token.pos)
        if kind == "op" and value == "(":
            self.enter(token.pos)
            node = self.parse_expression(0)
            closing = self.take()
            if closing.kind != "op" or closing.value != ")":
                where = f"to close the '(' of column {token.pos + 1}"
                if closing.kind == "end":
                    raise _Located(f"expected ')' {where}", closing.pos)
                raise _Located(
                    f"expected ')' {where}, found {_describe_token(closing)}", closing.pos
                )
            self.depth -= 1
            return node
        if kind == "keyword" and value == "not":
            raise _Located("'not' needs parentheses here: not (...)", token.pos)
        raise _Located(f"expected a value, found {_describe_token(token)}", token.pos)

    def parse_call(self, name_token: _Token) -> _Node:
        name = name_token.value.lower()
        function = _FUNCTIONS.get(name)
        if function is None:
            raise _Located(f"unknown function '{name_token.value}'", name_token.pos)
        self.enter(self.take().pos)
        args: list[_Node] = []
        if not self.at_op(")"):
            args.append(self.parse_expression(0))
            while self.at_op(","):
                self.take()
                args.append(self.parse_expression(0))
        token = self.take()
        if token.kind == "end":
            raise _Located(f"expected ')' to end the arguments of {name}()", token.pos)
        if token.kind != "op" or token.value != ")":
            raise _Located(
                f"expected ',' or ')' after an argument of {name}(), "
                f"found {_describe_token(token)}",
                token.pos,
            )
        self.depth -= 1
        low, high = function.arity
        if not low <= len(args) <= (len(args) if high is None else high):
            raise _Located(
                f"{name}() takes {_arity_text(low, high)}, got {len(args)}", name_token.pos
            )
        call = _Call(name, tuple(args), name_token.pos)
        if function.check is not None:
            function.check(call)
        return call


def _arity_text(low: int, high: int | None) -> str:
    def count(n: int) -> str:
        return f"{n} argument" + ("" if n == 1 else "s")

    if high is None:
        return "at least " + count(low)
    if low == high:
        return count(low)
    if high == low + 1:
        return f"{low} or {count(high)}"
    return f"{low} to {count(high)}"


# Binding levels, loosest first: or, and, not (prefix), comparisons, &, + -, * / %, unary -.
_AND_LEVEL, _NOT_LEVEL, _COMPARE_LEVEL, _MINUS_LEVEL = 1, 2, 3, 7
_LEVELS = {
    "or": 0,
    "and": _AND_LEVEL,
    **dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), _COMPARE_LEVEL),
    "&": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


# --- values ------------------------------------------------------------------------------------


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _describe(value: Any) -> str:
    kind = _kind(value)
    if kind == "text":
        return "text " + _short(value)
    if kind in ("number", "date"):
        text = _text(value)
        return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"
    if kind == "true/false":
        return _text(value)
    if kind == "list":
        return "a list"
    if kind == "object":
        return "an object"
    return kind


def _format_decimal(value: Decimal) -> str:
    if value.is_finite() and -100 < value.adjusted() < 100:
        return format(value, "f")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    """The text of a value that is not ``null``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _format_decimal(value)
    if isinstance(value, int):
        return str(value) if -_BIG_INT < value < _BIG_INT else _format_decimal(Decimal(value))
    if isinstance(value, float):
        return _format_decimal(Decimal(repr(value)))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return str(value)


def _text_or_empty(value: Any) -> str:
    if type(value) is str:
        return value
    return "" if value is None else _text(value)


def _parse_number(text: str) -> Decimal | None:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        number = Decimal(stripped)
    except (InvalidOperation, ValueError):
        raise _Fail(f"{_short(text)} is not a number") from None
    if not number.is_finite() or "_" in stripped:
        raise _Fail(f"{_short(text)} is not a number")
    return number


def _num(value: Any) -> Decimal | None:
    """A value as a number, ``null`` for ``null`` and blank text; :class:`_Fail` otherwise."""
    kind = type(value)
    if kind is Decimal and value.is_finite():
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is str:
        return _parse_number(value)
    if kind is int:
        return Decimal(value)
    if kind is float:
        if not isfinite(value):
            raise _Fail(f"{value} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, bool):
        raise _Fail(f"{_describe(value)} is not a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Fail(f"{value} is not a finite number")
        return value
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, float):
        return _num(float(value))
    if isinstance(value, str):
        return _parse_number(str(value))
    raise _Fail(f"{_describe(value)} is not a number")


def _int_arg(value: Any, what: str, low: int, high: int) -> int | None:
    number = _num(value)
    if number is None:
        return None
    if not low <= number <= high or number != number.to_integral_value():
        raise _Fail(f"{what} must be a whole number from {low} to {high}, got {_text(number)}")
    return int(number)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _walk(value: Any, parts: list[str]) -> Any:
    """Follow ``parts`` down nested objects and arrays; :data:`_MISSING` if there is no such."""
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
            if value is _MISSING:
                return value
        elif isinstance(value, list | tuple) and part.isascii() and part.isdigit():
            index = int(part)
            if index >= len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _lookup(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name, _MISSING)
    if value is _MISSING and "." in name:
        value = _walk(record, name.split("."))
    return value


# --- operators ---------------------------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    if type(a) is Decimal and type(b) is Decimal:
        return _CTX.add(a, b)
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        raise _Fail(
            f"cannot add {_kind(a)} and {_kind(b)} (convert text with number(), join with &)"
        )
    x, y = _num(a), _num(b)
    assert x is not None and y is not None
    return _CTX.add(x, y)


def _arithmetic(operation: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if type(a) is Decimal and type(b) is Decimal:
            return operation(a, b)
        if a is None or b is None:
            return None
        x, y = _num(a), _num(b)
        if x is None or y is None:
            return None
        return operation(x, y)

    return apply


def _divide(a: Decimal, b: Decimal) -> Decimal:
    if not b:
        raise _Fail("division by zero")
    return _CTX.divide(a, b)


def _modulo(a: Decimal, b: Decimal) -> Decimal:
    if not b:
        raise _Fail("division by zero")
    remainder = _CTX.remainder(a, b)
    if remainder and (remainder < 0) != (b < 0):
        remainder = _CTX.add(remainder, b)
    return remainder


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _arithmetic(_CTX.subtract),
    "*": _arithmetic(_CTX.multiply),
    "/": _arithmetic(_divide),
    "%": _arithmetic(_modulo),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if type(a) is Decimal and type(b) is Decimal:
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        if not (_is_number(a) or isinstance(a, str)) or not (_is_number(b) or isinstance(b, str)):
            return False
        try:
            x, y = _num(a), _num(b)
        except _Fail:
            if isinstance(a, str) or isinstance(b, str):
                return False  # text that is not a number equals no number
            raise
        return x is not None and y is not None and x == y
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if isinstance(a, list | tuple | Mapping) and type(a) is type(b):
        return bool(a == b)
    return False


def _order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1; ``None`` when either side is ``null`` (or blank text against a number)."""
    if type(a) is Decimal and type(b) is Decimal:
        return (a > b) - (a < b)
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if (_is_number(a) or isinstance(a, str)) and (_is_number(b) or isinstance(b, str)):
        x, y = _num(a), _num(b)  # a number and a number or text (two texts are done above)
        if x is None or y is None:
            return None
        return (x > y) - (x < y)
    if isinstance(a, datetime) and isinstance(b, datetime):
        try:
            return (a > b) - (a < b)
        except TypeError:
            raise _Fail("cannot compare a date with a time zone and one without") from None
    raise _Fail(f"cannot order {_kind(a)} and {_kind(b)}")


def _less(a: Any, b: Any) -> bool:
    order = _order(a, b)
    return order is not None and order < 0


def _less_equal(a: Any, b: Any) -> bool:
    order = _order(a, b)
    return order is not None and order <= 0


def _greater(a: Any, b: Any) -> bool:
    order = _order(a, b)
    return order is not None and order > 0


def _greater_equal(a: Any, b: Any) -> bool:
    order = _order(a, b)
    return order is not None and order >= 0


def _not_equal(a: Any, b: Any) -> bool:
    return not _equal(a, b)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": _not_equal,
    "<": _less,
    "<=": _less_equal,
    ">": _greater,
    ">=": _greater_equal,
}


def _arithmetic_message(exc: ArithmeticError) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, Overflow):
        return "the result is too large"
    return "the result cannot be computed (number out of range)"


def _truth(value: Any, what: str, pos: int) -> bool:
    if value is True:
        return True
    if value is False or value is None:
        return False
    raise _Located(f"{what} needs true, false or null, got {_describe(value)}", pos)


# --- compiling the tree to closures ------------------------------------------------------------


class _Compiler:
    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def compile(self, node: _Node) -> _Eval:
        if isinstance(node, _Literal):
            return _constant(node.value)
        if isinstance(node, _Field):
            return _field(node.name, node.pos, self.strict)
        if isinstance(node, _Chain):
            return self.chain(node)
        if isinstance(node, _Call):
            return _FUNCTIONS[node.name].build(self, node)
        if isinstance(node, _Compare):
            return _comparison(
                _COMPARE[node.op],
                node.op,
                self.compile(node.left),
                self.compile(node.right),
                node.op_pos,
            )
        if isinstance(node, _Logic):
            return _logic(node.op, [(self.compile(o), o.pos) for o in node.operands])
        if node.op == "not":
            return _negation(self.compile(node.operand), node.operand.pos)
        return _minus(self.compile(node.operand), node.pos)

    def chain(self, node: _Chain) -> _Eval:
        operands = [self.compile(o) for o in node.operands]
        if node.ops[0] == "&":
            return _join(operands)
        if len(operands) == 2:
            return _binary(node.ops[0], operands[0], operands[1], node.op_positions[0])
        first = operands[0]
        rest = [
            (_BINARY[op], op, operand, pos)
            for op, operand, pos in zip(node.ops, operands[1:], node.op_positions, strict=True)
        ]

        def run(record: Record) -> Any:
            value = first(record)
            for apply, op, operand, pos in rest:
                right = operand(record)
                try:
                    value = apply(value, right)
                except _Fail as exc:
                    raise _Located(f"'{op}': {exc}", pos) from None
                except ArithmeticError as exc:
                    raise _Located(f"'{op}': {_arithmetic_message(exc)}", pos) from None
            return value

        return run


def _constant(value: Any) -> _Eval:
    def run(record: Record) -> Any:
        return value

    return run


def _field(name: str, pos: int, strict: bool) -> _Eval:
    if not strict and "." not in name:

        def get(record: Record) -> Any:
            return record.get(name)

        return get

    def lookup(record: Record) -> Any:
        value = _lookup(record, name)
        if value is _MISSING:
            if strict:
                raise _Located(f"missing field {name!r}", pos)
            return None
        return value

    return lookup


def _binary(op: str, left: _Eval, right: _Eval, pos: int) -> _Eval:
    apply = _BINARY[op]

    def run(record: Record) -> Any:
        a = left(record)
        b = right(record)
        try:
            return apply(a, b)
        except _Fail as exc:
            raise _Located(f"'{op}': {exc}", pos) from None
        except ArithmeticError as exc:
            raise _Located(f"'{op}': {_arithmetic_message(exc)}", pos) from None

    return run


def _join(operands: list[_Eval]) -> _Eval:
    def run(record: Record) -> str:
        return "".join([_text_or_empty(operand(record)) for operand in operands])

    return run


def _comparison(
    compare: Callable[[Any, Any], bool], op: str, left: _Eval, right: _Eval, pos: int
) -> _Eval:
    def run(record: Record) -> bool:
        a = left(record)
        b = right(record)
        try:
            return compare(a, b)
        except _Fail as exc:
            raise _Located(f"'{op}': {exc}", pos) from None
        except ArithmeticError as exc:
            raise _Located(f"'{op}': {_arithmetic_message(exc)}", pos) from None

    return run


def _logic(op: str, operands: list[tuple[_Eval, int]]) -> _Eval:
    what = f"'{op}'"
    if op == "and":

        def all_true(record: Record) -> bool:
            return all(_truth(operand(record), what, pos) for operand, pos in operands)

        return all_true

    def any_true(record: Record) -> bool:
        return any(_truth(operand(record), what, pos) for operand, pos in operands)

    return any_true


def _negation(operand: _Eval, pos: int) -> _Eval:
    def run(record: Record) -> bool:
        return not _truth(operand(record), "'not'", pos)

    return run


def _minus(operand: _Eval, pos: int) -> _Eval:
    def run(record: Record) -> Any:
        value = operand(record)
        try:
            number = _num(value)
            return None if number is None else _CTX.minus(number)
        except _Fail as exc:
            raise _Located(f"'-': {exc}", pos) from None
        except ArithmeticError as exc:
            raise _Located(f"'-': {_arithmetic_message(exc)}", pos) from None

    return run


# --- functions ---------------------------------------------------------------------------------


_Builder = Callable[[_Compiler, _Call], _Eval]


@dataclass(frozen=True, slots=True)
class _Function:
    arity: tuple[int, int | None]
    build: _Builder
    check: Callable[[_Call], None] | None = None  # validates literal arguments when parsing


def _simple(impl: Callable[..., Any]) -> _Builder:
    """A function that takes the values of all its arguments."""

    def build(compiler: _Compiler, node: _Call) -> _Eval:
        args = [compiler.compile(arg) for arg in node.args]
        label, pos = f"{node.name}()", node.pos

        if len(args) == 1:
            (first,) = args

            def run1(record: Record) -> Any:
                value = first(record)
                try:
                    return impl(value)
                except _Fail as exc:
                    raise _Located(f"{label}: {exc}", pos) from None
                except ArithmeticError as exc:
                    raise _Located(f"{label}: {_arithmetic_message(exc)}", pos) from None

            return run1

        def run(record: Record) -> Any:
            values = [arg(record) for arg in args]
            try:
                return impl(*values)
            except _Fail as exc:
                raise _Located(f"{label}: {exc}", pos) from None
            except ArithmeticError as exc:
                raise _Located(f"{label}: {_arithmetic_message(exc)}", pos) from None

        return run

    return build


def _text_function(operation: Callable[[str], Any]) -> _Builder:
    def impl(value: Any) -> Any:
        return None if value is None else operation(_text(value))

    return _simple(impl)


def _build_if(compiler: _Compiler, node: _Call) -> _Eval:
    condition, then, otherwise = (compiler.compile(arg) for arg in node.args)
    pos = node.args[0].pos

    def run(record: Record) -> Any:
        if _truth(condition(record), "if()", pos):
            return then(record)
        return otherwise(record)

    return run


def _build_coalesce(compiler: _Compiler, node: _Call) -> _Eval:
    args = [compiler.compile(arg) for arg in node.args]

    def run(record: Record) -> Any:
        for arg in args:
            value = arg(record)
            if value is not None:
                return value
        return None

    return run


def _concat(*values: Any) -> str:
    return "".join([_text_or_empty(value) for value in values])


def _length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    return len(_text(value))


def _substr(value: Any, start: Any, length: Any = _OMITTED) -> Any:
    if value is None or start is None or length is None:
        return None
    text = _text(value)
    begin = _int_arg(start, "start", -(10**9), 10**9)
    count = None if length is _OMITTED else _int_arg(length, "length", 0, 10**9)
    if begin is None or (count is None and length is not _OMITTED):
        return None  # blank text as a position
    if begin < 0:
        begin = max(len(text) + begin, 0)
    return text[begin:] if count is None else text[begin : begin + count]


def _replace(value: Any, old: Any, new: Any) -> Any:
    if value is None or old is None or new is None:
        return None
    target = _text(old)
    if not target:
        raise _Fail("the text to replace is empty")
    return _text(value).replace(target, _text(new))


def _split(value: Any, separator: Any, index: Any) -> Any:
    if value is None or separator is None or index is None:
        return None
    sep = _text(separator)
    if not sep:
        raise _Fail("the separator is empty")
    parts = _text(value).split(sep)
    position = _int_arg(index, "index", -(10**9), 10**9)
    if position is not None and -len(parts) <= position < len(parts):
        return parts[position]
    return None


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise _Fail(f"the pattern is longer than {MAX_PATTERN} characters")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _Fail(f"bad pattern {_short(pattern)}: {exc}") from None


def _group(pattern: re.Pattern[str], group: Any) -> int | str:
    if isinstance(group, str) and not (group.strip().lstrip("-").isdigit()):
        if group not in pattern.groupindex:
            raise _Fail(f"the pattern has no group named {_short(group)}")
        return group
    number = _int_arg(group, "group", 0, 10**9)
    if number is None or number > pattern.groups:
        raise _Fail(f"the pattern has no group {number}")
    return number


def _regex(value: Any, pattern: Any, group: Any = 0) -> Any:
    if value is None or pattern is None or group is None:
        return None
    compiled = _pattern(_text(pattern))
    which = _group(compiled, group)
    match = compiled.search(_text(value))
    return None if match is None else match.group(which)


def _check_regex(node: _Call) -> None:
    args = node.args
    if not isinstance(args[1], _Literal) or args[1].value is None:
        return
    try:
        compiled = _pattern(_text(args[1].value))
    except _Fail as exc:
        raise _Located(f"regex(): {exc}", args[1].pos) from None
    if len(args) == 3 and isinstance(args[2], _Literal) and args[2].value is not None:
        try:
            _group(compiled, args[2].value)
        except _Fail as exc:
            raise _Located(f"regex(): {exc}", args[2].pos) from None


def _number(value: Any) -> Decimal | None:
    return _num(value)


def _text_of(value: Any) -> str | None:
    return None if value is None else _text(value)


def _round(value: Any, digits: Any = 0) -> Decimal | None:
    number = _num(value)
    places = _int_arg(digits, "digits", -100, 100)
    if number is None or places is None:
        return None
    try:
        return number.quantize(Decimal((0, (1,), -places)), context=_CTX)
    except InvalidOperation:
        raise _Fail(f"{_text(number)} rounded to {places} digits has too many digits") from None


def _abs(value: Any) -> Decimal | None:
    number = _num(value)
    return None if number is None else _CTX.abs(number)


def _extreme(pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def impl(*values: Any) -> Any:
        present = [value for value in values if value is not None]
        if present and all(isinstance(value, datetime) for value in present):
            try:
                return pick([_utc(value) for value in present])
            except TypeError:  # pragma: no cover - _utc makes them all comparable
                raise _Fail("cannot compare these dates") from None
        numbers = [number for number in map(_num, present) if number is not None]
        return pick(numbers) if numbers else None

    return impl


def _sum(values: Any, field: Any = _OMITTED) -> Decimal | None:
    if values is None or field is None:
        return None
    if not isinstance(values, list | tuple):
        raise _Fail(f"expected a list, got {_describe(values)}")
    name = None if field is _OMITTED else _text(field)
    total = _ZERO
    for index, item in enumerate(values):
        if name is not None:
            if not isinstance(item, Mapping):
                raise _Fail(f"item {index} of the list is {_describe(item)}, not an object")
            item = _lookup(item, name)
            if item is _MISSING:
                continue
        number = _num(item)
        if number is not None:
            total = _CTX.add(total, number)
    return total


_DATA_UNITS = {"b": 0, "byte": 0, "bytes": 0, "kb": 1, "mb": 2, "gb": 3, "tb": 4, "pb": 5}
_BINARY_UNITS = {"kib": 1, "mib": 2, "gib": 3, "tib": 4, "pib": 5}
_TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("month", "months"), 730 * 3600),
}
_UNITS: dict[str, tuple[str, Decimal]] = {
    **{name: ("data", Decimal(1000**power)) for name, power in _DATA_UNITS.items()},
    **{name: ("data", Decimal(1024**power)) for name, power in _BINARY_UNITS.items()},
    **{name: ("time", Decimal(seconds)) for name, seconds in _TIME_UNITS.items()},
}


def _unit(value: Any) -> tuple[str, Decimal]:
    unit = _UNITS.get(_text(value).strip().lower())
    if unit is None:
        raise _Fail(f"unknown unit {_short(_text(value))}")
    return unit


def _units(from_unit: Any, to_unit: Any) -> tuple[Decimal, Decimal]:
    (from_kind, from_factor), (to_kind, to_factor) = _unit(from_unit), _unit(to_unit)
    if from_kind != to_kind:
        raise _Fail(
            f"cannot convert {from_kind} ({_text(from_unit)}) to {to_kind} ({_text(to_unit)})"
        )
    return from_factor, to_factor


def _convert(value: Any, from_unit: Any, to_unit: Any) -> Decimal | None:
    if value is None or from_unit is None or to_unit is None:
        return None
    from_factor, to_factor = _units(from_unit, to_unit)
    number = _num(value)
    if number is None:
        return None
    return _CTX.divide(_CTX.multiply(number, from_factor), to_factor)


def _check_convert(node: _Call) -> None:
    units = [arg for arg in node.args[1:] if isinstance(arg, _Literal) and arg.value is not None]
    try:
        for unit in units:
            _unit(unit.value)
    except _Fail as exc:
        raise _Located(f"convert(): {exc}", unit.pos) from None
    if len(units) == 2:
        try:
            _units(units[0].value, units[1].value)
        except _Fail as exc:
            raise _Located(f"convert(): {exc}", node.pos) from None


def _date(value: Any, fmt: Any) -> datetime | None:
    if value is None or fmt is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    text = _text(value).strip()
    if not text:
        return None
    pattern = _text(fmt)
    try:
        parsed = datetime.strptime(text, pattern)  # naive: UTC, made aware by _utc
    except ValueError:
        raise _Fail(f"{_short(text)} does not match the format {_short(pattern)}") from None
    return _utc(parsed)


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    seconds = _num(value)
    if seconds is None:
        return None
    if not -_EPOCH_LIMIT <= seconds <= _EPOCH_LIMIT:
        raise _Fail(f"{_text(seconds)} seconds since 1970 is out of range")
    whole = seconds.to_integral_value(rounding=ROUND_FLOOR)
    fraction = _CTX.multiply(_CTX.subtract(seconds, whole), _MILLION)
    micro = fraction.to_integral_value(rounding=ROUND_HALF_EVEN)
    try:
        return _EPOCH + timedelta(seconds=int(whole), microseconds=int(micro))
    except OverflowError:
        raise _Fail(f"{_text(seconds)} seconds since 1970 is out of range") from None


_FUNCTIONS: dict[str, _Function] = {
    "upper": _Function((1, 1), _text_function(str.upper)),
    "lower": _Function((1, 1), _text_function(str.lower)),
    "trim": _Function((1, 1), _text_function(str.strip)),
    "length": _Function((1, 1), _simple(_length)),
    "concat": _Function((1, None), _simple(_concat)),
    "substr": _Function((2, 3), _simple(_substr)),
    "replace": _Function((3, 3), _simple(_replace)),
    "split": _Function((3, 3), _simple(_split)),
    "regex": _Function((2, 3), _simple(_regex), _check_regex),
    "coalesce": _Function((1, None), _build_coalesce),
    "if": _Function((3, 3), _build_if),
    "number": _Function((1, 1), _simple(_number)),
    "text": _Function((1, 1), _simple(_text_of)),
    "round": _Function((1, 2), _simple(_round)),
    "abs": _Function((1, 1), _simple(_abs)),
    "min": _Function((1, None), _simple(_extreme(min))),
    "max": _Function((1, None), _simple(_extreme(max))),
    "sum": _Function((1, 2), _simple(_sum)),
    "convert": _Function((3, 3), _simple(_convert), _check_convert),
    "date": _Function((2, 2), _simple(_date)),
    "epoch": _Function((1, 1), _simple(_epoch)),
}


# --- the public face ---------------------------------------------------------------------------


class Expression:
    """A compiled expression: parse once with :func:`compile_expression`, evaluate per record."""

    __slots__ = ("_lenient", "_strict", "names", "source")

    source: str
    names: frozenset[str]

    def __init__(self, source: str, tree: _Node, names: frozenset[str]) -> None:
        self.source = source
        self.names = names
        self._lenient = _Compiler(strict=False).compile(tree)
        self._strict = _Compiler(strict=True).compile(tree)

    def evaluate(self, record: Mapping[str, Any], *, strict: bool = False) -> Any:
        """The value for one record; ``strict`` makes a missing field an error, not ``null``."""
        try:
            return (self._strict if strict else self._lenient)(record)
        except _Located as exc:
            raise _error(exc.message, self.source, exc.pos) from None

    def __repr__(self) -> str:
        return f"compile_expression({self.source!r})"


def compile_expression(text: str) -> Expression:
    """Parse ``text`` once; :class:`ExpressionError` names the column of any syntax error."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression too long: {len(text)} characters, at most {MAX_LENGTH} are allowed",
            source=text,
        )
    try:
        parser = _Parser(text)
        tree = parser.parse()
        return Expression(text, tree, frozenset(parser.names))
    except _Located as exc:
        raise _error(exc.message, text, exc.pos) from None
