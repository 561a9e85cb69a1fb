"""The billing formats Meterbook reads, each as a map from the provider's columns to the
ledger's fields.

Column formats (FOCUS, AWS CUR, Azure, OCI) work on whole blocks of text columns; record
formats (Google's BigQuery export as NDJSON/JSON/CSV, Google's legacy JSON file export) turn
each record into canonical text values first. Either way the result goes through the same
parsers (:mod:`.table`), so money, quantities and times mean the same in every format.

Each column format returns the ledger's fields as text arrays, plus ``line_key`` when the
format has a line item id (else the row's hash is its key). A format without an end time
(Azure's daily rows) gets one from its time unit: see :data:`TIME_UNITS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from meterbook.connectors.billing.table import TextBlock, tags_json

#: Default provider name of each format (FOCUS rows name their own).
PROVIDERS = {
    "aws-cur": "AWS",
    "azure": "Microsoft",
    "oci": "Oracle",
    "gcp": "Google Cloud",
    "gcp-legacy": "Google Cloud",
}

TextColumns = dict[str, pa.Array]

#: How long one line lasts when the format gives only its start.
TIME_UNITS = {"azure": "day"}


def _const(block: TextBlock, value: str | None) -> pa.Array:
    return pa.array([value] * block.rows, pa.string())


def _map_values(column: pa.Array, mapping: Mapping[str, str], default: str | None) -> pa.Array:
    """Translate values case-insensitively; unknown ones become ``default`` (or stay)."""
    lower = pc.utf8_lower(pc.fill_null(column, ""))
    keys = pa.array([k.lower() for k in mapping])
    index = pc.index_in(lower, keys)
    mapped = pc.take(pa.array(list(mapping.values()), pa.string()), index)
    fallback = _const_like(column, default) if default is not None else column
    return pc.if_else(pc.is_valid(index), mapped, fallback)


def _const_like(column: pa.Array, value: str) -> pa.Array:
    return pa.array([value] * len(column), pa.string())


def _coalesce(*columns: pa.Array) -> pa.Array:
    return pc.coalesce(*columns)


# ---------------------------------------------------------------------------------------------
# FOCUS 1.0 - 1.2


def focus(block: TextBlock) -> TextColumns:
    """FOCUS: the columns are the ledger's own, under their specification names."""
    g = block.get
    return {
        "provider": _coalesce(g("ProviderName"), g("ServiceProviderName")),
        "billing_account": g("BillingAccountId"),
        "sub_account": g("SubAccountId"),
        "sub_account_name": g("SubAccountName"),
        "project_ext": g("SubAccountId"),
        "service": g("ServiceName"),
        "service_category": g("ServiceCategory"),
        "sku": g("SkuId"),
        "metric": _coalesce(g("SkuMeter"), g("ChargeDescription")),
        "region": g("RegionId"),
        "resource": g("ResourceId"),
        "charge_category": g("ChargeCategory"),
        "charge_frequency": g("ChargeFrequency"),
        "description": g("ChargeDescription"),
        "quantity": _coalesce(g("ConsumedQuantity"), g("PricingQuantity")),
        "unit": _coalesce(g("ConsumedUnit"), g("PricingUnit")),
        "billed_cost": g("BilledCost"),
        "effective_cost": g("EffectiveCost"),
        "list_cost": g("ListCost"),
        "currency": g("BillingCurrency"),
        "tags": g("Tags"),
        "start": g("ChargePeriodStart"),
        "end": g("ChargePeriodEnd"),
    }


# ---------------------------------------------------------------------------------------------
# AWS Cost and Usage Report: legacy CSV (lineItem/UnblendedCost) and CUR 2.0 (line_item_...)


def snake(name: str) -> str:
    """``lineItem/UnblendedCost`` -> ``line_item_unblended_cost`` (CUR 2.0's own names)."""
    name = name.replace("/", "_").replace(":", "_")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"_+", "_", name).lower()


_AWS_CATEGORIES = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "Discount": "Credit",
    "BundledDiscount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "SppDiscount": "Credit",
    "DistributorDiscount": "Credit",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
}
_AWS_FREQUENCY = {
    "Fee": "One-Time",
    "SavingsPlanUpfrontFee": "One-Time",
    "RIFee": "Recurring",
    "SavingsPlanRecurringFee": "Recurring",
}


def aws_cur(block: TextBlock) -> TextColumns:
    """AWS CUR, legacy CSV or CUR 2.0 (CSV or Parquet): matched by CUR 2.0 names."""
    names = {snake(n): n for n in block.table.column_names}

    def g(*wanted: str) -> pa.Array:
        return block.get(*(names[w] for w in wanted if w in names))

    line_type = g("line_item_line_item_type")
    billed = g("line_item_unblended_cost")
    effective = pc.case_when(
        pc.make_struct(
            pc.equal(line_type, "SavingsPlanCoveredUsage"),
            pc.equal(line_type, "DiscountedUsage"),
        ),
        g("savings_plan_savings_plan_effective_cost"),
        g("reservation_effective_cost"),
        billed,
    )
    effective = _coalesce(effective, billed)
    tag_columns = {
        n.split("/", 1)[1]: block.get(n)
        for n in block.table.column_names
        if n.lower().startswith("resourcetags/")
    }
    tags = g("resource_tags") if "resource_tags" in names else tags_json(tag_columns, block.rows)
    line_id = g("identity_line_item_id")
    interval = g("identity_time_interval")
    key = None
    if "identity_line_item_id" in names:
        key = pc.binary_join_element_wise(line_id, pc.fill_null(interval, ""), "/")
    return {
        "line_key": key,
        "provider": _const(block, PROVIDERS["aws-cur"]),
        "billing_account": g("bill_payer_account_id"),
        "sub_account": g("line_item_usage_account_id"),
        "sub_account_name": g("line_item_usage_account_name"),
        "project_ext": g("line_item_usage_account_id"),
        "service": _coalesce(
            g("product_product_name"), g("product_servicename"), g("line_item_product_code")
        ),
        "sku": g("product_sku"),
        "metric": g("line_item_usage_type"),
        "region": _coalesce(g("product_region_code"), g("product_region")),
        "resource": g("line_item_resource_id"),
        "charge_category": _map_values(line_type, _AWS_CATEGORIES, None),
        "charge_frequency": _map_values(line_type, _AWS_FREQUENCY, "Usage-Based"),
        "description": g("line_item_line_item_description"),
        "quantity": g("line_item_usage_amount"),
        "unit": g("pricing_unit"),
        "billed_cost": billed,
        "effective_cost": effective,
        "list_cost": g("pricing_public_on_demand_cost"),
        "currency": g("line_item_currency_code"),
        "tags": tags,
        "start": g("line_item_usage_start_date"),
        "end": g("line_item_usage_end_date"),
    }


# ---------------------------------------------------------------------------------------------
# Azure cost exports: EA and MCA (the same names, PascalCase or camelCase)

_AZURE_CATEGORIES = {
    "Usage": "Usage",
    "UnusedReservation": "Usage",
    "UnusedSavingsPlan": "Usage",
    "Purchase": "Purchase",
    "Refund": "Credit",
    "Credit": "Credit",
    "Tax": "Tax",
    "Adjustment": "Adjustment",
    "RoundingAdjustment": "Adjustment",
}
_AZURE_FREQUENCY = {"UsageBased": "Usage-Based", "OneTime": "One-Time", "Recurring": "Recurring"}


def _products(price: pa.Array, quantity: pa.Array) -> pa.Array:
    """``price * quantity`` as exact decimal text (null when either is missing or bad)."""
    out: list[str | None] = []
    for p, q in zip(price.to_pylist(), quantity.to_pylist(), strict=True):
        try:
            out.append(None if p is None or q is None else str(Decimal(p) * Decimal(q)))
        except ArithmeticError:
            out.append(None)
    return pa.array(out, pa.string())


def azure(block: TextBlock) -> TextColumns:
    """Azure EA and MCA cost details (actual cost): one line per resource, meter and day."""
    g = block.get
    quantity = g("Quantity")
    billed = g("CostInBillingCurrency", "Cost", "PreTaxCost")
    day = g("Date", "UsageDateTime")
    return {
        "provider": _const(block, PROVIDERS["azure"]),
        "billing_account": g("BillingAccountId"),
        "sub_account": g("SubscriptionId", "SubscriptionGuid"),
        "sub_account_name": g("SubscriptionName"),
        "project_ext": g("SubscriptionId", "SubscriptionGuid"),
        "service": g("MeterCategory", "ServiceName"),
        "sku": g("MeterId"),
        "metric": g("MeterName"),
        "region": g("ResourceLocation"),
        "resource": g("ResourceId", "InstanceId"),
        "charge_category": _map_values(
            _coalesce(g("ChargeType"), _const(block, "Usage")), _AZURE_CATEGORIES, None
        ),
        "charge_frequency": _map_values(g("Frequency"), _AZURE_FREQUENCY, "Usage-Based"),
        "description": g("ProductName", "Product"),
        "quantity": quantity,
        "unit": g("UnitOfMeasure"),
        "billed_cost": billed,
        "effective_cost": billed,
        "list_cost": _products(g("PayGPrice"), quantity),
        "currency": g("BillingCurrencyCode", "BillingCurrency", "Currency"),
        "tags": g("Tags"),
        "start": day,
    }


# ---------------------------------------------------------------------------------------------
# Oracle Cloud cost reports


def oci(block: TextBlock) -> TextColumns:
    """OCI cost report CSV: one line per resource, SKU and hour."""
    g = block.get
    correction = pc.equal(pc.utf8_lower(pc.fill_null(g("lineItem/isCorrection"), "")), "true")
    tag_columns = {
        n.split("/", 1)[1]: block.get(n)
        for n in block.table.column_names
        if n.lower().startswith("tags/")
    }
    key = g("lineItem/referenceNo") if block.has("lineItem/referenceNo") else None
    return {
        "line_key": key,
        "provider": _const(block, PROVIDERS["oci"]),
        "billing_account": g("lineItem/tenantId"),
        "sub_account": g("product/compartmentId"),
        "sub_account_name": g("product/compartmentName"),
        "project_ext": g("product/compartmentId"),
        "service": g("product/service"),
        "sku": g("cost/productSku"),
        "metric": g("product/Description"),
        "region": g("product/region"),
        "resource": g("product/resourceId"),
        "charge_category": pc.if_else(correction, pa.scalar("Adjustment"), pa.scalar("Usage")),
        "charge_frequency": _const(block, "Usage-Based"),
        "description": g("product/Description"),
        "quantity": g("usage/billedQuantity"),
        "unit": g("cost/skuUnitDescription"),
        "billed_cost": g("cost/myCost"),
        "effective_cost": g("cost/myCost"),
        "currency": g("cost/currencyCode"),
        "tags": tags_json(tag_columns, block.rows),
        "start": g("lineItem/intervalUsageStart"),
        "end": g("lineItem/intervalUsageEnd"),
    }


COLUMN_FORMATS: dict[str, Callable[[TextBlock], TextColumns]] = {
    "focus": focus,
    "aws-cur": aws_cur,
    "azure": azure,
    "oci": oci,
}

# ---------------------------------------------------------------------------------------------
# Google Cloud: record formats

#: One canonical line as text values, and the raw record it came from.
Line = dict[str, str | None]


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """``a.b.0.c`` in nested dicts and lists; an exact flat key (``service.description`` as a
    CSV header) wins."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _labels(value: Any) -> str | None:
    """BigQuery labels (``[{key, value}]``) or a plain object as a JSON object."""
    if isinstance(value, str) and value.strip().startswith(("[", "{")):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list):
        value = {i.get("key"): i.get("value") for i in value if isinstance(i, Mapping)}
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) and value else None


_GCP_COST_TYPES = {
    "regular": "Usage",
    "tax": "Tax",
    "adjustment": "Adjustment",
    "rounding error": "Adjustment",
}


def gcp(record: Mapping[str, Any]) -> Iterator[tuple[str, Line]]:
    """A BigQuery billing export row: its charge, then one Credit line per credit.

    Yields (key suffix, line); the record's hash plus the suffix is the line key.
    """

    def f(path: str) -> str | None:
        return _text(lookup(record, path))

    cost_type = (f("cost_type") or "regular").lower()
    base: Line = {
        "billing_account": f("billing_account_id"),
        "sub_account": f("project.id"),
        "sub_account_name": f("project.name"),
        "project_ext": f("project.id"),
        "service": f("service.description"),
        "sku": f("sku.id"),
        "metric": f("sku.description"),
        "region": f("location.region") or f("location.location"),
        "resource": f("resource.global_name") or f("resource.name"),
        "charge_frequency": "Usage-Based",
        "description": f("sku.description"),
        "currency": f("currency"),
        "tags": _labels(lookup(record, "labels")),
        "start": f("usage_start_time"),
        "end": f("usage_end_time"),
    }
    yield (
        "",
        {
            **base,
            "charge_category": _GCP_COST_TYPES.get(cost_type, cost_type),
            "quantity": f("usage.amount"),
            "unit": f("usage.unit"),
            "billed_cost": f("cost"),
            "effective_cost": f("cost"),
            "list_cost": f("cost_at_list"),
        },
    )
    for n, credit in enumerate(_json_list(lookup(record, "credits")), 1):
        if not isinstance(credit, Mapping):
            continue
        amount = _text(credit.get("amount"))
        name = _text(credit.get("name")) or _text(credit.get("full_name")) or "credit"
        yield (
            f":credit:{n}",
            {
                **base,
                "charge_category": "Credit",
                "description": name,
                "billed_cost": amount,
                "effective_cost": amount,
            },
        )


def gcp_legacy(record: Mapping[str, Any]) -> Iterator[tuple[str, Line]]:
    """A legacy Google Cloud JSON file export item (one per project, metric and interval)."""
    item = _text(record.get("lineItemId")) or ""
    parts = item.split("/")
    service = parts[-2] if len(parts) >= 2 else item or None
    measurements = _json_list(record.get("measurements"))
    first = measurements[0] if measurements and isinstance(measurements[0], Mapping) else {}
    project = _text(record.get("projectId")) or _text(record.get("projectNumber"))
    base: Line = {
        "billing_account": _text(record.get("accountId")),
        "sub_account": project,
        "sub_account_name": _text(record.get("projectName")),
        "project_ext": project,
        "service": service,
        "metric": _text(first.get("measurementId")) or item or None,
        "charge_frequency": "Usage-Based",
        "description": _text(record.get("description")),
        "currency": _text(lookup(record, "cost.currency")),
        "tags": _labels(record.get("projectLabels") or record.get("labels")),
        "start": _text(record.get("startTime")),
        "end": _text(record.get("endTime")),
    }
    amount = _text(lookup(record, "cost.amount"))
    yield (
        "",
        {
            **base,
            "charge_category": "Usage",
            "quantity": _text(first.get("sum")),
            "unit": _text(first.get("unit")),
            "billed_cost": amount,
            "effective_cost": amount,
        },
    )
    for n, credit in enumerate(_json_list(record.get("credits")), 1):
        if isinstance(credit, Mapping):
            value = _text(credit.get("amount"))
            yield (
                f":credit:{n}",
                {
                    **base,
                    "charge_category": "Credit",
                    "description": _text(credit.get("name")) or "credit",
                    "billed_cost": value,
                    "effective_cost": value,
                    "currency": _text(credit.get("currency")) or base["currency"],
                },
            )


RECORD_FORMATS: dict[str, Callable[[Mapping[str, Any]], Iterator[tuple[str, Line]]]] = {
    "gcp": gcp,
    "gcp-legacy": gcp_legacy,
}
