"""Benchmark: `meterbook import billing --format focus` against DuckDB's load of the same CSV.

Generates a FOCUS 1.0 CSV of N rows (default 2,000,000; the 44 columns of the FOCUS sample,
`NULL` as the null word): 3 providers, 100 sub-accounts, 40 services, hourly charge periods over
September 2024 plus a few monthly lines (tax, recurring fees, storage), tags JSON on most rows,
credits, costs with 11 decimals. The generator is deterministic (fixed seed), streams, sums the
BilledCost exactly (integers of 1e-11) and caches the file in bench/out. Then, in one run, each
in its own process:

* the reference: DuckDB `CREATE TABLE t AS SELECT * FROM read_csv('FILE')` into a database file;
* `import_billing` (the library behind `meterbook import billing --format focus`) into a fresh
  SQLite file and into a fresh PostgreSQL database (`--databases`).

Prints seconds, rows/s and peak memory (ru_maxrss of the process) of each, the ratio of each
import to the reference, and checks that the stored rows and SUM(billed_cost) equal the
generator's. `--flat-check` imports a quarter of the rows into SQLite too and prints both
peaks. The results go to bench/out/import_focus.json. Needs `pip install -e .[bench]` (DuckDB).

    python bench/import_focus.py                                  # 2,000,000 rows, both stores
    python bench/import_focus.py --rows 200000 --databases sqlite --flat-check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

OUT = Path(__file__).parent / "out"
SEED = 20240901
#: Bump when the generated data changes: cached files of another version are made again.
GENERATOR = 1
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL = 5.0

#: The columns of the FOCUS 1.0 sample, in its order.
COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "Id", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# The generator. Prices are integers of 1e-8 dollars and quantities integers of 1e-3 units, so
# every cost is an exact integer of 1e-11 dollars (the 11 decimals FOCUS exports carry).

NULL = "NULL"
HOURS = 720  # September 2024
PERIOD_START = "2024-09-01 00:00:00"
PERIOD_END = "2024-10-01 00:00:00"
MAX_COST = 10**15 - 1  # under $10,000 a line: 15 significant digits at most

# The services each provider bills: a service line (provider | service | category | resource
# type), then its SKUs indented (description | unit | unit price | quantity kind | mean).
# Quantity kinds: hour (an instance hour, sometimes partial), gb (exponential), req (requests).
CATALOG = """
AWS | Amazon Elastic Compute Cloud | Compute | instance
  $0.0104 per On Demand Linux t3.micro Instance Hour | Hours | 0.0104 | hour | 1
  $0.0832 per On Demand Linux t3.large Instance Hour | Hours | 0.0832 | hour | 1
  $0.192 per On Demand Linux m5.xlarge Instance Hour | Hours | 0.192 | hour | 1
  $0.34 per On Demand Linux c5.2xlarge Instance Hour | Hours | 0.34 | hour | 1
  $0.126 per On Demand Linux r5.large Instance Hour | Hours | 0.126 | hour | 1
  $0.08 per GB-month of General Purpose (gp3) provisioned storage | GB-Months | 0.08 | gb | 0.7
  $0.090 per GB - first 10 TB / month data transfer out | GB | 0.09 | gb | 2
  $0.000 per GB - data transfer in per month | GB | 0 | gb | 5
AWS | Amazon Simple Storage Service | Storage | bucket
  $0.023 per GB - first 50 TB / month of storage used | GB-Months | 0.023 | gb | 3
  $0.005 per 1,000 PUT, COPY, POST, or LIST requests | Requests | 0.000005 | req | 400
  $0.0004 per 1,000 GET and all other requests | Requests | 0.0000004 | req | 3000
AWS | Amazon Relational Database Service | Databases | db
  $0.171 per RDS db.m5.large instance hour running PostgreSQL | Hours | 0.171 | hour | 1
  $0.115 per GB-month of provisioned gp2 storage running PostgreSQL | GB-Months | 0.115 | gb | 0.3
AWS | Amazon Simple Queue Service | Integration | queue
  $0.40 per million Amazon SQS standard requests in Tier1 | Requests | 0.0000004 | req | 2000
AWS | Elastic Load Balancing | Networking | loadbalancer
  $0.008 per used Application load balancer capacity unit-hour | LCU-Hours | 0.008 | gb | 0.5
  $0.0225 per Application LoadBalancer-hour (or partial hour) | Hours | 0.0225 | hour | 1
AWS | AmazonCloudWatch | Management and Governance | log-group
  $0.50 per GB - data ingested | GB | 0.5 | gb | 0.2
  $0.01 per 1,000 metrics requested using GetMetricData API | Metrics | 0.00001 | req | 800
AWS | Amazon Virtual Private Cloud | Networking | vpc
  $0.045 per NAT Gateway Hour | Hours | 0.045 | hour | 1
  $0.045 per GB Data Processed by NAT Gateways | GB | 0.045 | gb | 3
  $0.005 per In-use public IPv4 address per hour | Hours | 0.005 | hour | 1
AWS | AWS Lambda | Compute | function
  AWS Lambda - Total Compute - US East (N. Virginia) | Lambda-GB-Second | 0.00001667 | gb | 400
  AWS Lambda - Total Requests - US East (Northern Virginia) | Requests | 0.0000002 | req | 5000
AWS | Amazon DynamoDB | Databases | table
  $1.25 per million write request units | WriteRequestUnits | 0.00000125 | req | 2000
  $0.25 per million read request units | ReadRequestUnits | 0.00000025 | req | 8000
AWS | Amazon Elastic Container Service | Compute | task
  AWS Fargate - vCPU - US East (N.Virginia) | vCPU-Hours | 0.04048 | hour | 1
  AWS Fargate - Memory - US East (N.Virginia) | GB-Hours | 0.004445 | gb | 4
AWS | Amazon Elastic Kubernetes Service | Compute | cluster
  $0.10 per hour per Amazon EKS cluster | Hours | 0.1 | hour | 1
AWS | Amazon CloudFront | Networking | distribution
  $0.085 per GB - first 10 TB / month data transfer out | GB | 0.085 | gb | 4
  $0.0075 per 10,000 HTTPS Requests | Requests | 0.00000075 | req | 9000
AWS | Amazon Route 53 | Networking | hostedzone
  $0.40 per 1,000,000 queries for the first 1 Billion queries | Queries | 0.0000004 | req | 6000
AWS | AWS Key Management Service | Security | key
  $0.03 per 10,000 requests | Requests | 0.000003 | req | 1500
AWS | Amazon Elastic File System | Storage | file-system
  $0.30 per GB-Mo for Standard storage | GB-Months | 0.3 | gb | 0.4
AWS | Amazon ElastiCache | Databases | cluster
  $0.156 per Redis cache.m5.large node-hour (or partial hour) | NodeUsage | 0.156 | hour | 1
AWS | AWS Glue | Analytics | job
  $0.44 per Data Processing Unit-Hour for AWS Glue ETL job | DPU-Hour | 0.44 | gb | 1.5
AWS | Amazon Athena | Analytics | workgroup
  $5.00 per Terabytes for DataScannedInTB | Terabytes | 5 | gb | 0.05
AWS | Amazon SageMaker | AI and Machine Learning | notebook-instance
  $0.23 per On-Demand Notebook ml.m5.xlarge hour | Hours | 0.23 | hour | 1
  $0.736 per Hosting ml.g4dn.xlarge hour | Hours | 0.736 | hour | 1
AWS | AWS CloudTrail | Management and Governance | trail
  $0.00002 per data event recorded | Events | 0.00002 | req | 3000
Microsoft | Virtual Machines | Compute | Virtual machine
  D2s v3 - Linux | Hours | 0.096 | hour | 1
  D4s v3 - Linux | Hours | 0.192 | hour | 1
  E8s v5 - Windows | Hours | 0.872 | hour | 1
Microsoft | Storage Accounts | Storage | Storage account
  Hot LRS Data Stored - US East | GB/Month | 0.0184 | gb | 5
  Tiered Block Blob - LRS - List and Create Container Operations | Units | 0.05 | gb | 0.01
Microsoft | Azure SQL Database | Databases | SQL database
  General Purpose - Gen5 - vCore | vCore Hours | 0.2522 | hour | 1
Microsoft | Azure Kubernetes Service | Compute | Managed cluster
  Standard - Uptime SLA | Hours | 0.1 | hour | 1
Microsoft | Bandwidth | Networking | Virtual network
  Standard Data Transfer Out | GB | 0.087 | gb | 2
Microsoft | Azure Monitor | Management and Governance | Log Analytics workspace
  Analytics Logs Data Ingestion | GB | 2.3 | gb | 0.05
Microsoft | Azure Cosmos DB | Databases | Azure Cosmos DB account
  100 RU/s | RU/s Hours | 0.008 | gb | 4
Microsoft | Azure App Service | Compute | App Service plan
  Premium v3 P1v3 App | Hours | 0.2 | hour | 1
Microsoft | Microsoft Defender for Cloud | Security | Storage account
  Microsoft Defender for Storage - Standard Transactions | Units | 0.02 | gb | 0.02
Microsoft | Azure Functions | Compute | Function app
  Standard Total Executions | Executions | 0.0000002 | req | 5000
Microsoft | Load Balancer | Networking | Load balancer
  Standard Included LB Rules and Outbound Rules | Hours | 0.025 | hour | 1
Microsoft | Azure Machine Learning | AI and Machine Learning | Machine learning workspace
  NCasT4 v3 - Linux | Hours | 0.526 | hour | 1
Oracle | COMPUTE | Compute | instance
  Standard - E4 - OCPU | OCPU Per Hour | 0.025 | hour | 2
  Standard - E4 - Memory | GB Hours | 0.0015 | gb | 16
Oracle | BLOCK_STORAGE | Storage | volume
  Block Volume - Storage | GB Months | 0.0255 | gb | 1
Oracle | OBJECT_STORAGE | Storage | bucket
  Object Storage - Storage | GB Months | 0.0255 | gb | 2
  Object Storage - Requests | Requests | 0.0000034 | req | 1000
Oracle | NETWORK | Networking | vnic
  Outbound Data Transfer Zone 1 | GB Months | 0.0085 | gb | 1
Oracle | DATABASE | Databases | autonomousdatabase
  Oracle Autonomous Data Warehouse - ECPU | ECPU Per Hour | 0.336 | hour | 2
Oracle | LOAD_BALANCER | Networking | loadbalancer
  Load Balancer Base | Load Balancer Hour | 0.0113 | hour | 1
Oracle | LOGGING | Management and Governance | log
  Logging - Storage | GB Months | 0.05 | gb | 0.1
Oracle | KUBERNETES | Compute | cluster
  Kubernetes Engine - Enhanced Cluster | Cluster Per Hour | 0.1 | hour | 1
"""

SUB_ACCOUNTS = {"AWS": 70, "Microsoft": 20, "Oracle": 10}
REGIONS = {
    "AWS": [
        ("us-east-1", "US East (N. Virginia)"),
        ("us-west-2", "US West (Oregon)"),
        ("us-east-2", "US East (Ohio)"),
        ("eu-central-1", "EU (Frankfurt)"),
        ("eu-west-1", "EU (Ireland)"),
        ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ],
    "Microsoft": [
        ("eastus", "East US"),
        ("westeurope", "West Europe"),
        ("westus2", "West US 2"),
        ("northeurope", "North Europe"),
    ],
    "Oracle": [(NULL, "us-sanjose-1"), (NULL, "us-ashburn-1"), (NULL, "eu-frankfurt-1")],
}
ISSUER = {"AWS": "Amazon Web Services, Inc.", "Microsoft": "Microsoft", "Oracle": "Oracle"}
BILLING_ACCOUNT = {
    "AWS": "1234567890123",
    "Microsoft": "/providers/Microsoft.Billing/billingAccounts/8611537",
    "Oracle": "20209880",
}
WORDS = ("Atlas", "Orion", "Zenith", "Nimbus", "Pioneer", "Odyssey", "Eclipse", "Aurora",
         "Vega", "Polaris", "Nova", "Summit")  # fmt: skip
APPS = ("BrightLensMatrix", "SafeRadarCore", "ZoomMapMax", "GlobalSuiteEssentials",
        "MaxVaultVault")  # fmt: skip
UNITS = ("ViennaAI", "TempeAI", "JakartaSRE", "LahoreSRE", "PasadenaAI", "DavaoIT",
         "PeoriaData", "OsloOps")  # fmt: skip
UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LOWER = "abcdefghijkmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"


def q(value: str) -> str:
    """A quoted CSV field."""
    return '"' + value.replace('"', '""') + '"'


def units(text: str, places: int) -> int:
    value = Decimal(text).scaleb(places)
    if value != value.to_integral_value():
        raise ValueError(f"{text} has more than {places} decimals")
    return int(value)


def amount(value: int, places: int = 11) -> str:
    """An integer of 10**-places as a fixed-point number with ``places`` decimals."""
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


@dataclass
class Sku:
    id: str
    price_id: str
    description: str
    unit: str
    price: int  # 1e-8 dollars
    price_text: str
    kind: str
    mean: float


@dataclass
class Service:
    name: str
    category: str
    resource_type: str
    skus: list[Sku] = field(default_factory=list)


@dataclass
class Account:
    provider: str
    id: str
    name: str
    home: int  # its usual region: an index into REGIONS[provider]
    tags: list[str]  # quoted Tags fields; empty: the account tags nothing
    resources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _token(rng: random.Random, n: int, alphabet: str = UPPER) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _catalog(rng: random.Random) -> dict[str, list[Service]]:
    catalog: dict[str, list[Service]] = {}
    for line in CATALOG.strip().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if not line.startswith(" "):
            provider, name, category, resource_type = parts
            catalog.setdefault(provider, []).append(Service(name, category, resource_type))
            continue
        description, unit, price, kind, mean = parts
        if provider == "AWS":
            sku_id = _token(rng, 16)
            price_id = f"{sku_id}.JRTCKXETXF.6YS6EN2CT7"
        elif provider == "Microsoft":
            sku_id = price_id = str(rng.randrange(10**6, 10**9))
        else:
            sku_id, price_id = f"B{rng.randrange(88000, 95000)}", ""
        sku = Sku(sku_id, price_id, description, unit, units(price, 8), price, kind, float(mean))
        catalog[provider][-1].skus.append(sku)
    return catalog


def _tags(rng: random.Random, name: str) -> list[str]:
    if rng.random() < 0.7:
        unit = rng.choice(UNITS)
        envs = ("prod", "dev", "staging")
        return [
            q(json.dumps({"application": app, "environment": rng.choice(envs),
                          "business_unit": unit}))
            for app in rng.sample(APPS, rng.randint(1, 3))
        ]  # fmt: skip
    if rng.random() < 0.3:
        center = str(rng.randrange(1000, 9999))
        return [q(json.dumps({"env": "prod", "Project": name.split()[0], "CostCenter": center}))]
    return []


def _accounts(rng: random.Random) -> dict[str, list[Account]]:
    accounts: dict[str, list[Account]] = {}
    for provider, count in SUB_ACCOUNTS.items():
        for _ in range(count):
            if provider == "AWS":
                ident = str(rng.randrange(10**10, 10**12))
            elif provider == "Microsoft":
                parts = [_token(rng, n, HEX) for n in (8, 4, 4, 4, 12)]
                ident = "/subscriptions/" + "-".join(parts)
            else:
                ident = "ocid1.tenancy.oc1..aaaaaaaa" + _token(rng, 52, LOWER)
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
            home = rng.randrange(len(REGIONS[provider]))
            account = Account(provider, ident, name, home, _tags(rng, name))
            accounts.setdefault(provider, []).append(account)
    return accounts


def _resource(
    rng: random.Random, account: Account, service: Service, region: str
) -> tuple[str, str]:
    """(ResourceId, ResourceName) fields from the account's pool for the service."""
    pool = account.resources.get(service.name)
    if pool is None:
        pool = account.resources[service.name] = []
        kind = service.resource_type
        for _ in range(rng.randint(1, 12)):
            token = _token(rng, 17, HEX)
            if account.provider == "AWS":
                name = NULL
                ident = f"arn:aws:{kind}:{region}:{account.id}:{kind}/{token}"
            elif account.provider == "Microsoft":
                name = q(token[:12])
                ident = (
                    f"{account.id}/resourcegroups/rg-{token[:5]}/providers/"
                    f"microsoft.{kind.replace(' ', '').lower()}/{token[:12]}"
                )
            else:
                name = '""'
                ident = f"ocid1.{kind}.oc1.{region}.{token}{_token(rng, 40, LOWER)}"
            pool.append((q(ident), name))
    return pool[rng.randrange(len(pool))]


def _quantity(rng: random.Random, sku: Sku) -> int:
    """An hour's consumed quantity, in 1e-3 units."""
    if sku.kind == "hour":
        whole = 1000 * max(1, round(sku.mean))
        return whole if rng.random() < 0.9 else rng.randint(1, whole)
    if sku.kind == "req":
        return 1000 * int(rng.expovariate(1.0 / sku.mean) + 1)
    return int(rng.expovariate(1.0) * sku.mean * 1000)


def _skewed(rng: random.Random, count: int) -> int:
    """An index below ``count`` favouring the first (a few big ones, a long tail)."""
    return int(count * rng.random() ** 1.8)


def write_focus(out: TextIO, rows: int, seed: int = SEED) -> Decimal:
    """Write a FOCUS 1.0 CSV of ``rows`` lines; returns the exact sum of its BilledCost.

    Rows go hour by hour through the month; the monthly lines (one in a thousand) come last.
    """
    rng = random.Random(seed)
    catalog = _catalog(rng)
    accounts = _accounts(rng)
    hours = [f"2024-09-{1 + h // 24:02d} {h % 24:02d}:00:00" for h in range(HOURS)]
    hours.append(PERIOD_END)
    monthly = max(1, rows // 1000)
    hourly = rows - monthly
    total = 0  # 1e-11 dollars
    out.write(",".join(q(c) for c in COLUMNS) + "\n")
    chunk: list[str] = []
    for index in range(rows):
        pick = rng.random()
        provider = "AWS" if pick < 0.7 else "Microsoft" if pick < 0.9 else "Oracle"
        aws, oracle = provider == "AWS", provider == "Oracle"
        account = accounts[provider][_skewed(rng, len(accounts[provider]))]
        service = catalog[provider][_skewed(rng, len(catalog[provider]))]
        sku = service.skus[rng.randrange(len(service.skus))]
        regions = REGIONS[provider]
        region_id, region_name = regions[
            account.home if rng.random() < 0.8 else rng.randrange(len(regions))
        ]
        resource, resource_name = _resource(
            rng, account, service, region_name if oracle else region_id
        )
        tags = NULL
        if account.tags and rng.random() < 0.85:
            tags = account.tags[rng.randrange(len(account.tags))]
        frequency = "Usage-based" if oracle else "Usage-Based"
        category = "Usage"
        commitment = ['""', '""', '""', NULL, '""'] if oracle else [NULL] * 5
        pricing_category = '""' if oracle else '"Standard"'
        zone = NULL
        if oracle:
            zone = q(f"{_token(rng, 4)}:{region_name.upper()}-AD-1")
        elif aws and rng.random() < 0.3:
            zone = q(region_id + rng.choice("abc"))
        if index < hourly:
            hour = index * HOURS // hourly
            start, end = hours[hour], hours[hour + 1]
            quantity = _quantity(rng, sku)
            cost = effective = min(sku.price * quantity, MAX_COST)
            if rng.random() < 0.0005:  # a promotional credit
                category, frequency = "Credit", "One-Time"
                cost = effective = -rng.randrange(10**9, 5 * 10**11)
                quantity = 0
            elif not oracle and sku.kind == "hour" and rng.random() < 0.08:  # committed
                if aws:
                    plan = f"arn:aws:savingsplans::{account.id}:savingsplan/{_token(rng, 8, HEX)}"
                    commitment = ['"Spend"', q(plan), NULL, '"Used"', '"Savings Plan"']
                else:
                    order = f"/providers/Microsoft.Capacity/reservationOrders/{_token(rng, 8, HEX)}"
                    commitment = ['"Usage"', q(order), NULL, '"Used"', '"Reservation"']
                pricing_category = '"Committed"'
                effective = cost * 72 // 100
        else:  # a monthly line: tax, a recurring fee or a month of usage
            start, end = PERIOD_START, PERIOD_END
            kind = rng.random()
            quantity = 0
            frequency = "Recurring"
            if kind < 0.3:
                category = "Tax"
                cost = rng.randrange(10**11, 2 * 10**14)
            elif kind < 0.5:
                category = "Purchase"
                cost = rng.randrange(10**13, 5 * 10**14)
            else:
                quantity = int(rng.expovariate(1.0) * 500_000)
                cost = min(sku.price * quantity, MAX_COST)
            effective = cost
        total += cost
        billed = amount(cost)
        usage = category == "Usage"
        if usage:
            consumed = f"{amount(quantity, 3)}000000000000"
            pricing = f"{amount(quantity, 3)}00000000"
            unit = q(sku.unit)
        else:
            consumed, pricing, unit = NULL, NULL, NULL
            resource, resource_name = NULL, NULL  # taxes, fees and credits name no resource
        description = sku.description
        if category == "Tax":
            description = f"Tax for {service.name} for the billing period"
        elif category == "Credit":
            description = f"Promotional credit, credit from account: {account.id}"
        elif category == "Purchase":
            description = f"{service.name} - monthly subscription fee"
        zero = "0.00000000000"
        issuer = q(ISSUER[provider])
        fields = (
            zone, billed, q(BILLING_ACCOUNT[provider]), '""' if oracle else '"SunBird"', '"USD"',
            q(PERIOD_END), q(PERIOD_START), q(category), NULL, q(description), q(frequency),
            q(end), q(start), *commitment, consumed, unit,
            NULL if oracle else zero if aws else billed,  # ContractedCost
            NULL if oracle else zero if aws else amount(sku.price, 8) + "000",
            amount(effective), issuer, billed, q(sku.price_text) if usage else NULL,
            pricing_category, pricing, unit, q(provider), issuer,
            NULL if region_id == NULL else q(region_id), q(region_name), resource, resource_name,
            q(service.resource_type), q(service.category), str(10_000_000 + index),
            q(service.name), q(sku.id), q(sku.price_id), q(account.id), q(account.name), tags,
        )  # fmt: skip
        chunk.append(",".join(fields))
        if len(chunk) >= 10_000:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")
    return Decimal(total).scaleb(-11)


def sample_file(rows: int) -> tuple[Path, Decimal]:
    """The cached FOCUS file of ``rows`` rows and its exact BilledCost total."""
    path = OUT / f"focus-{rows}.csv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        known = json.loads(meta.read_text())
        if known.get("rows") == rows and known.get("generator") == GENERATOR:
            return path, Decimal(known["billed_total"])
    OUT.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        total = write_focus(out, rows)
    tmp.replace(path)
    meta.write_text(
        json.dumps({"rows": rows, "generator": GENERATOR, "seed": SEED, "billed_total": str(total)})
    )
    return path, total


# ---------------------------------------------------------------------------------------------
# Children: each measured load runs in its own process


def child(kind: str, *args: str) -> None:
    if kind == "duckdb":
        import duckdb

        source, target = args
        with duckdb.connect(target) as con:
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{source}')")  # noqa: S608
            row = con.execute("SELECT count(*) FROM t").fetchone()
        print(json.dumps({"rows": row[0] if row else 0}))
        return
    from meterbook.settings import Settings
    from meterbook.store.core import open_store, upgrade_store

    url = args[0]
    if kind == "upgrade":
        upgrade_store(Settings(database_url=url))[0].engine.dispose()
        return
    from meterbook.connectors.billing.connector import BillingReader
    from meterbook.spend import import_billing

    store = open_store(Settings(database_url=url))
    result = import_billing(store, BillingReader("focus"), [args[1]])
    store.engine.dispose()
    reasons = [f"line {r.line}: {r.reason}" for r in result.first_rejects]
    print(json.dumps({"inserted": result.inserted, "rejected": result.rejected,
                      "first_rejects": reasons}))  # fmt: skip


def measured(*args: str) -> tuple[float, int, dict[str, Any]]:
    """Run this script as a child; returns (seconds, peak RSS bytes, its JSON output)."""
    command = [sys.executable, __file__, "--child", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss of that process
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{args[0]} failed ({proc.returncode}): {errors.strip()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024, json.loads(text) if text.strip() else {}


# ---------------------------------------------------------------------------------------------
# meterbook imports and their checks: stored rows and the BilledCost total


@dataclass
class Imported:
    seconds: float
    peak: int  # bytes
    stored: int  # SELECT COUNT(*) FROM cost_lines
    total: Decimal  # SELECT SUM(billed_cost) FROM cost_lines
    exact: Decimal | None  # SQLite: the exact sum of the stored values
    rejected: int
    first_rejects: list[str]


def import_sqlite(path: Path, work: Path, name: str) -> Imported:
    """Into a fresh SQLite file. SQLite keeps money as doubles, so its SUM is a double; each
    stored value (at most 15 significant digits here) reads back exactly as text, so their
    exact sum must be the generator's."""
    db = work / f"{name}.db"
    url = f"sqlite:///{db}"
    measured("upgrade", url)
    seconds, peak, out = measured("import", url, str(path))
    with closing(sqlite3.connect(db)) as con:
        count, total = con.execute("SELECT COUNT(*), SUM(billed_cost) FROM cost_lines").fetchone()
        values = con.execute("SELECT CAST(billed_cost AS TEXT) FROM cost_lines")
        exact = sum((Decimal(v) for (v,) in values), Decimal(0))
    db.unlink()
    return Imported(seconds, peak, count, Decimal(repr(total or 0)), exact, out["rejected"],
                    out["first_rejects"])  # fmt: skip


def import_postgres(path: Path, url: str) -> Imported:
    """Into a fresh PostgreSQL database, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"meterbook_bench_focus_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = base.set(database=name)
    try:
        mb_url = target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        measured("upgrade", mb_url)
        seconds, peak, out = measured("import", mb_url, str(path))
        plain = target.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain) as conn:
            row = conn.execute("SELECT COUNT(*), SUM(billed_cost) FROM cost_lines").fetchone()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert row is not None
    return Imported(seconds, peak, int(row[0]), Decimal(row[1] or 0), None, out["rejected"],
                    out["first_rejects"])  # fmt: skip


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated, of sqlite and postgresql (default: both)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("MB_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server (a fresh database is made on it)",
    )
    parser.add_argument(
        "--flat-check",
        action="store_true",
        help="also import a quarter of the rows into SQLite; print both peaks",
    )
    args = parser.parse_args()  # fmt: skip
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown or not databases:
        parser.error(f"--databases: sqlite and/or postgresql, not {args.databases!r}")
    if args.flat_check and "sqlite" not in databases:
        parser.error("--flat-check compares with the SQLite import: keep sqlite in --databases")
    rows = args.rows

    started = time.perf_counter()
    path, expected = sample_file(rows)
    size = path.stat().st_size / 2**20
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"{rows:,} FOCUS rows, {size:,.0f} MB ({path.name}, ready in "
          f"{time.perf_counter() - started:.0f} s), BilledCost total {expected}; "
          f"{os.cpu_count()} CPUs; {when}")  # fmt: skip
    results: dict[str, Any] = {
        "date": when, "rows": rows, "file": path.name, "file_mb": round(size, 1),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "billed_total": str(expected), "goal_ratio": GOAL,
    }  # fmt: skip

    def show(label: str, seconds: float, peak: int, extra: str = "") -> None:
        print(f"{label:<30}{seconds:9.2f} s{rows / seconds:>11,.0f} rows/s"
              f"{peak / 2**20:>7,.0f} MB peak{extra}")  # fmt: skip

    def verdict(ok: bool) -> str:
        return "match" if ok else "MISMATCH"

    failed = False
    with tempfile.TemporaryDirectory(prefix="meterbook-bench-") as tmp:
        work = Path(tmp)
        reference = work / "reference.duckdb"
        ref_s, ref_peak, ref_out = measured("duckdb", str(path), str(reference))
        reference.unlink()
        show("reference: DuckDB read_csv", ref_s, ref_peak)
        if ref_out.get("rows") != rows:
            print(f"  warning: DuckDB loaded {ref_out.get('rows')} rows, not {rows:,}")
        results["reference"] = {
            "seconds": round(ref_s, 2), "rows_per_s": round(rows / ref_s),
            "peak_mb": round(ref_peak / 2**20), "rows": ref_out.get("rows"),
        }  # fmt: skip
        for db in databases:
            if db == "sqlite":
                got = import_sqlite(path, work, "full")
            else:
                got = import_postgres(path, args.postgres)
            ratio = got.seconds / ref_s
            show(f"meterbook import ({db})", got.seconds, got.peak,
                 f"   ratio {ratio:.2f} (goal <= {GOAL:g})")  # fmt: skip
            count_ok = got.stored == rows
            total_ok = (got.exact if got.exact is not None else got.total) == expected
            print(f"  rows stored {got.stored:,} ({verdict(count_ok)}); "
                  f"SUM(billed_cost) {got.total}", end="")  # fmt: skip
            if got.exact is None:
                print(f" ({verdict(total_ok)})")
            else:
                print(f" (a double: {got.total - expected:+}); exact sum of the stored values "
                      f"{got.exact} ({verdict(total_ok)})")  # fmt: skip
            if got.rejected:
                print(f"  rejected {got.rejected:,}: {got.first_rejects}")
            failed |= not (count_ok and total_ok)
            results[db] = {
                "seconds": round(got.seconds, 2), "rows_per_s": round(rows / got.seconds),
                "peak_mb": round(got.peak / 2**20), "ratio": round(ratio, 2),
                "rows_stored": got.stored, "rows_match": count_ok, "rejected": got.rejected,
                "sum_billed_cost": str(got.total), "total_match": total_ok,
            }  # fmt: skip
            if got.exact is not None:
                results[db]["exact_sum_of_stored_values"] = str(got.exact)
        if args.flat_check:
            quarter = rows // 4
            small, _ = sample_file(quarter)
            got = import_sqlite(small, work, "quarter")
            full_peak = results["sqlite"]["peak_mb"]
            quarter_peak = round(got.peak / 2**20)
            print(f"flat check (SQLite): peak {quarter_peak:,} MB at {quarter:,} rows, "
                  f"{full_peak:,} MB at {rows:,} rows")  # fmt: skip
            results["flat_check"] = {"rows": quarter, "peak_mb": quarter_peak,
                                     "seconds": round(got.seconds, 2), "full_rows": rows,
                                     "full_peak_mb": full_peak}  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "import_focus.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results in {OUT / 'import_focus.json'}")
    if failed:
        sys.exit("the stored rows or the BilledCost total differ from the generator's")


if __name__ == "__main__":
    main()
