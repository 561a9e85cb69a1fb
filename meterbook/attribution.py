"""Where costs go: workload groups by match rules, derived charges, and days of a charge.

Pure logic over plain values; :mod:`meterbook.store.cost_ingest` applies it to billing lines.

- **Match rules** (the original spend tracker's ``ruleid, rank, groupname, textmatch, prvid,
  scalefactor, scaleunit``): in rank order (then id), the first rule of the line's provider
  (or of every provider, when it names none) whose regular expression matches the line's
  metric name (or service, or SKU: the rule's ``field``) puts the cost into its workload
  group. ``scalefactor`` (``"/ 86400"``, ``"* 1024"``, ``"0.5"``) restates the quantity in
  ``scaleunit`` in the rollup. A line no rule matches goes to the group ``Other``.
- **Derived charges**: a provider's tax rate adds, per day and project, a ``Tax`` line of rate
  x that day's provider charges (not counting the provider's own tax lines); a charge rule
  (overhead, markup, discount) adds percent x the matching charges, as an ``Adjustment``
  (overhead, markup) or a ``Credit`` (discount). Each derived line names its rule.
- **Days**: a line's amounts are spread over the UTC days of its charge period in proportion to
  the overlap; the parts of money are rounded to 18 places and the last day takes the
  remainder, so the parts always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from meterbook.errors import ConfigError

#: The group of a line no match rule claims.
NO_GROUP = "Other"
#: Fields a match rule can look at.
MATCH_FIELDS = ("metric", "service", "sku")
#: Kinds of charge rules and the charge category of the lines they derive.
RULE_KINDS = {"overhead": "Adjustment", "markup": "Adjustment", "discount": "Credit"}
TAX_RULE = "tax"
DAY = 86400
_QUANTUM = Decimal(1).scaleb(-18)
_SCALE = re.compile(r"^\s*([*/])?\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*$")


def parse_scale(text: str | None) -> Decimal:
    """The factor of ``"/ 86400"``, ``"* 1024"`` or ``"0.5"`` (empty: 1)."""
    if text is None or not text.strip():
        return Decimal(1)
    found = _SCALE.match(text)
    if not found:
        raise ConfigError(f"scalefactor: expected '* N', '/ N' or N, not {text!r}")
    value = Decimal(found.group(2))
    if found.group(1) == "/":
        if value == 0:
            raise ConfigError(f"scalefactor: division by zero in {text!r}")
        return 1 / value
    return value


@dataclass(frozen=True)
class MatchRule:
    id: int
    rank: int
    group: str
    textmatch: str
    provider_id: int | None = None
    field: str = "metric"
    scalefactor: str | None = None
    scaleunit: str | None = None

    def compiled(self) -> re.Pattern[str]:
        try:
            return re.compile(self.textmatch)
        except re.error as exc:
            raise ConfigError(f"match rule {self.id}: textmatch: {exc}") from exc


class Matcher:
    """Match rules compiled once; the group and quantity factor of a line, cached."""

    def __init__(self, rules: Iterable[MatchRule]) -> None:
        ordered = sorted(rules, key=lambda r: (r.rank, r.id))
        for rule in ordered:
            if rule.field not in MATCH_FIELDS:
                raise ConfigError(
                    f"match rule {rule.id}: field must be one of {', '.join(MATCH_FIELDS)}"
                )
        self._rules = [(r, r.compiled(), parse_scale(r.scalefactor)) for r in ordered]
        self._cache: dict[tuple[object, ...], tuple[str, float]] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def group(
        self, provider_id: int, service: str | None, sku: str | None, metric: str | None
    ) -> tuple[str, float]:
        """(workload group, quantity factor) of a line."""
        key = (provider_id, service, sku, metric)
        found = self._cache.get(key)
        if found is None:
            found = (NO_GROUP, 1.0)
            values = {"metric": metric, "service": service, "sku": sku}
            for rule, pattern, factor in self._rules:
                if rule.provider_id not in (None, provider_id):
                    continue
                if pattern.search(values[rule.field] or ""):
                    found = (rule.group, float(factor))
                    break
            self._cache[key] = found
        return found


@dataclass(frozen=True)
class ChargeRule:
    """A percentage of matching provider charges, derived as a line of its own."""

    name: str
    kind: str
    percent: Decimal
    provider_id: int | None = None
    service_match: str | None = None
    group: str | None = None
    charge_category: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ConfigError(
                f"charge rule {self.name}: kind must be one of {', '.join(RULE_KINDS)}"
            )
        if self.service_match:
            try:
                re.compile(self.service_match)
            except re.error as exc:
                raise ConfigError(f"charge rule {self.name}: service match: {exc}") from exc

    @property
    def category(self) -> str:
        return RULE_KINDS[self.kind]

    @property
    def factor(self) -> Decimal:
        sign = -1 if self.kind == "discount" else 1
        return sign * abs(self.percent) / 100

    def applies(self, day: date, provider_id: int, service: str, group: str, category: str) -> bool:
        if category == "Tax":
            return False
        if self.provider_id is not None and self.provider_id != provider_id:
            return False
        if self.valid_from and day < self.valid_from:
            return False
        if self.valid_to and day > self.valid_to:
            return False
        if self.group and self.group != group:
            return False
        if self.charge_category and self.charge_category != category:
            return False
        return not (self.service_match and not re.search(self.service_match, service))


def utc_day(ts: float) -> date:
    return date(1970, 1, 1) + timedelta(days=int(ts // DAY))


def split_days(start: float, end: float) -> list[tuple[date, float]]:
    """(UTC day, share) of ``[start, end)``; a zero-length line is all in its start day."""
    first, last = int(start // DAY), int(end // DAY)
    if end <= start or first == last or (last == first + 1 and end == last * DAY):
        return [(utc_day(start), 1.0)]
    if end == last * DAY:
        last -= 1
    total = end - start
    parts = []
    for index in range(first, last + 1):
        low, high = max(start, index * DAY), min(end, (index + 1) * DAY)
        if high > low:
            parts.append((date(1970, 1, 1) + timedelta(days=index), (high - low) / total))
    return parts


def split_amount(amount: Decimal | None, shares: Sequence[float]) -> list[Decimal]:
    """``amount`` in parts proportional to ``shares``, rounded to 18 places, exact in sum."""
    if amount is None:
        amount = Decimal(0)
    if len(shares) == 1:
        return [amount]
    parts: list[Decimal] = []
    for share in shares[:-1]:
        try:
            parts.append((amount * Decimal(repr(share))).quantize(_QUANTUM))
        except InvalidOperation:
            parts.append(Decimal(0))
    parts.append(amount - sum(parts, Decimal(0)))
    return parts
