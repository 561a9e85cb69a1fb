"""Any CSV or JSON billing file through a declarative mapping (TOML).

A mapping says, for each field of a billing line, where its value comes from: a column (or a
JSON path), a constant, or an expression of :mod:`meterbook.expressions` (parsed by our own
parser: user text is never given to ``eval``). See ``docs/billing.md`` for the format::

    provider = "colo-east"
    time_unit = "day"            # hour | day | month: how long a line lasts without an end
    [fields]
    start = { column = "Date", format = "%d.%m.%Y" }
    project = "Project"
    metric = "upper(Service) & ' ' & Meter"
    quantity = { column = "Usage", convert = ["MiB", "GiB"] }
    cost = "number(Amount) * 1.19"
    currency = { const = "EUR" }
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from meterbook.connectors.billing.formats import Line, _text, lookup
from meterbook.errors import ConfigError, InputError
from meterbook.expressions import Expression, ExpressionError, compile_expression

#: Mapping field -> canonical line field.
FIELDS = {
    "start": "start",
    "end": "end",
    "provider": "provider",
    "billing_account": "billing_account",
    "sub_account": "sub_account",
    "sub_account_name": "sub_account_name",
    "project": "project_ext",
    "service": "service",
    "service_category": "service_category",
    "sku": "sku",
    "metric": "metric",
    "region": "region",
    "resource": "resource",
    "charge_category": "charge_category",
    "charge_frequency": "charge_frequency",
    "description": "description",
    "quantity": "quantity",
    "unit": "unit",
    "cost": "billed_cost",
    "effective_cost": "effective_cost",
    "list_cost": "list_cost",
    "currency": "currency",
    "tags": "tags",
    "key": "line_key",
}
REQUIRED = ("start", "cost", "currency")
TIME_UNITS = ("hour", "day", "month")
_TIME_FIELDS = ("start", "end")


@dataclass
class FieldSpec:
    """Where one field comes from."""

    name: str
    column: str | None = None
    const: Any = None
    expression: Expression | None = None
    date_format: str | None = None
    convert: tuple[str, str] | None = None
    default: Any = None

    @property
    def names(self) -> frozenset[str]:
        if self.column is not None:
            return frozenset({self.column})
        return self.expression.names if self.expression is not None else frozenset()

    def value(self, record: MappingType[str, Any]) -> Any:
        if self.column is not None:
            value = lookup(record, self.column)
        elif self.expression is not None:
            value = self.expression.evaluate(record)
        else:
            value = self.const
        if value is None or value == "":
            value = self.default
        if value is None:
            return None
        if self.date_format and isinstance(value, str):
            try:
                parsed = datetime.strptime(value.strip(), self.date_format)
            except ValueError:
                raise ValueError(
                    f"{self.name}: {value!r} does not match the date format {self.date_format!r}"
                ) from None
            value = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if self.convert is not None:
            value = _convert(value, *self.convert, self.name)
        return value


def _convert(value: Any, unit_from: str, unit_to: str, name: str) -> Any:
    holder = compile_expression("convert(v, f, t)")
    try:
        return holder.evaluate({"v": value, "f": unit_from, "t": unit_to})
    except ExpressionError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass
class Mapping:
    """A loaded mapping file."""

    source: str
    fields: dict[str, FieldSpec]
    provider: str | None = None
    time_unit: str = "day"
    delimiter: str = ","
    records: str | None = None
    _checked: frozenset[str] | None = field(default=None, repr=False)

    def expand(self, record: MappingType[str, Any]) -> Iterator[tuple[str, Line]]:
        """One canonical line of text values per record (errors name the field)."""
        self._check_columns(record)
        line: Line = {}
        for name, spec in self.fields.items():
            try:
                value = spec.value(record)
            except ExpressionError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if name in _TIME_FIELDS and isinstance(value, int | float | Decimal):
                value = datetime.fromtimestamp(float(value), UTC)
            line[FIELDS[name]] = _text(value)
        line.setdefault("charge_category", "Usage")
        if line.get("charge_category") is None:
            line["charge_category"] = "Usage"
        yield "", line

    def _check_columns(self, record: MappingType[str, Any]) -> None:
        """CSV rows: every column a field names must be in the header (once per header)."""
        keys = frozenset(record)
        if self._checked == keys or not all(isinstance(v, str | None) for v in record.values()):
            return
        for name, spec in self.fields.items():
            missing = sorted(n for n in spec.names if n not in keys and n.split(".")[0] not in keys)
            if missing:
                raise InputError(
                    f"{self.source}: field {name!r} uses column {missing[0]!r}, which the file "
                    "does not have"
                )
        self._checked = keys


def _spec(name: str, raw: Any, where: str) -> FieldSpec:
    try:
        if isinstance(raw, str):
            return FieldSpec(name, expression=compile_expression(raw))
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return FieldSpec(name, const=raw)
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: a string (expression) or a table")
        unknown = set(raw) - {"column", "path", "const", "expr", "format", "convert", "default"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        sources = [k for k in ("column", "path", "const", "expr") if k in raw]
        if len(sources) != 1:
            raise ConfigError(f"{where}: exactly one of column, path, const or expr")
        spec = FieldSpec(name, default=raw.get("default"))
        kind = sources[0]
        if kind in ("column", "path"):
            if not isinstance(raw[kind], str) or not raw[kind]:
                raise ConfigError(f"{where}.{kind}: a column name or JSON path")
            spec.column = raw[kind]
        elif kind == "const":
            spec.const = raw["const"]
        else:
            spec.expression = compile_expression(str(raw["expr"]))
        if "format" in raw:
            if name not in _TIME_FIELDS:
                raise ConfigError(f"{where}.format: only for start and end")
            spec.date_format = str(raw["format"])
        if "convert" in raw:
            pair = raw["convert"]
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(u, str) for u in pair)
            ):
                raise ConfigError(f'{where}.convert: [from unit, to unit], e.g. ["MiB", "GiB"]')
            spec.convert = (pair[0], pair[1])
            _convert(Decimal(1), pair[0], pair[1], where)
        return spec
    except ExpressionError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def parse_mapping(document: dict[str, Any], source: str) -> Mapping:
    """A mapping from a parsed TOML document; errors name the file and the field."""
    unknown = set(document) - {"provider", "time_unit", "delimiter", "records", "fields"}
    if unknown:
        raise ConfigError(f"{source}: unknown setting {sorted(unknown)[0]!r}")
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise ConfigError(f"{source}: [fields] is missing")
    specs: dict[str, FieldSpec] = {}
    for name, raw in raw_fields.items():
        if name not in FIELDS:
            raise ConfigError(
                f"{source}: fields.{name}: unknown field (one of {', '.join(FIELDS)})"
            )
        specs[name] = _spec(name, raw, f"{source}: fields.{name}")
    missing = [n for n in REQUIRED if n not in specs]
    if missing:
        raise ConfigError(f"{source}: fields.{missing[0]} is required")
    unit = document.get("time_unit", "day")
    if unit not in TIME_UNITS:
        raise ConfigError(f"{source}: time_unit: one of {', '.join(TIME_UNITS)}")
    delimiter = document.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"{source}: delimiter: one character")
    provider = document.get("provider")
    records = document.get("records")
    return Mapping(
        source, specs, provider=str(provider) if provider else None, time_unit=unit,
        delimiter=delimiter, records=str(records) if records else None,
    )  # fmt: skip


def load_mapping(path: Path) -> Mapping:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_mapping(document, str(path))
