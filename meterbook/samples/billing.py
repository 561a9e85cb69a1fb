"""A generator of realistic FOCUS 1.0 billing files, one calendar month a file.

Deterministic for a seed. It writes the 44 columns of the FOCUS 1.0 sample, in its order, with
``NULL`` as the null word, as real exports from three providers look: AWS, Microsoft and Oracle
with 100 sub-accounts between them (a few bill most, a long tail bills little), 40 services and
their SKUs, hourly charge periods over the month plus a few monthly lines (tax, recurring fees,
a month of storage), tags as JSON on most rows, promotional credits, committed-use discounts
and costs with 11 decimals. Every cost is an exact integer of 1e-11 dollars, so the BilledCost
total that :func:`write_focus` returns is exact.

The catalog and the sub-accounts come from the seed alone: files of several months written
with one seed bill the same sub-accounts (:func:`sub_accounts` lists them), and ``charges_seed``
varies the charges from month to month (:func:`write_files` does both).
"""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

#: The seed of the benchmark's files (``bench/import_focus.py``).
SEED = 20240901
#: Bump when the files written for a seed, a month and a number of rows change: the benchmark
#: makes cached files of another version again.
VERSION = 1
#: The month the files are of unless told otherwise.
SEPTEMBER_2024 = date(2024, 9, 1)

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


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The first moment of the calendar month of ``month`` and of the month after it."""
    first = datetime(month.year, month.month, 1)
    after = datetime(month.year + month.month // 12, month.month % 12 + 1, 1)
    return first, after


def _moment(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


def sub_accounts(seed: int = SEED) -> list[Account]:
    """The sub-accounts that files written with ``seed`` bill, provider by provider (AWS,
    Microsoft, Oracle); within a provider the first ones bill the most."""
    rng = random.Random(seed)
    _catalog(rng)
    return [a for found in _accounts(rng).values() for a in found]


def write_focus(
    out: TextIO,
    rows: int,
    seed: int = SEED,
    *,
    month: date = SEPTEMBER_2024,
    charges_seed: int | str | None = None,
) -> Decimal:
    """Write a FOCUS 1.0 CSV of ``rows`` lines for the calendar month of ``month``; returns the
    exact sum of its BilledCost.

    Rows go hour by hour through the month; the monthly lines (one in a thousand) come last.
    The catalog and the sub-accounts come from ``seed``; the charges follow on from the same
    random stream, or come from ``charges_seed`` when one is given.
    """
    rng = random.Random(seed)
    catalog = _catalog(rng)
    accounts = _accounts(rng)
    if charges_seed is not None:
        rng.seed(charges_seed)
    first, after = month_bounds(month)
    count = (after - first) // timedelta(hours=1)
    hours = [_moment(first + timedelta(hours=h)) for h in range(count + 1)]
    period_start, period_end = hours[0], hours[-1]
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
            hour = index * count // hourly
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
            start, end = period_start, period_end
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
            q(period_end), q(period_start), q(category), NULL, q(description), q(frequency),
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


def write_files(
    folder: Path, months: Sequence[date], rows: int, *, seed: int = SEED, name: str = "focus"
) -> list[tuple[Path, Decimal]]:
    """Write one gzip-compressed FOCUS file of ``rows`` lines per month, named
    ``<name>-YYYY-MM-01.csv.gz`` after the month's first day (what incremental directory loads
    look for); returns each file with its BilledCost total, in the order of ``months``.

    Every file bills the sub-accounts of ``seed``; the charges of each month come from the seed
    and the month. A file appears under its name only once it is complete.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Decimal]] = []
    for month in months:
        first, _ = month_bounds(month)
        path = folder / f"{name}-{first:%Y-%m-%d}.csv.gz"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as raw, \
                gzip.GzipFile(path.name, "wb", 6, raw, mtime=0) as packed, \
                io.TextIOWrapper(packed, encoding="utf-8", newline="") as out:  # fmt: skip
            total = write_focus(out, rows, seed, month=first.date(),
                                charges_seed=f"{seed}:{first:%Y-%m}")  # fmt: skip
        tmp.replace(path)
        written.append((path, total))
    return written
