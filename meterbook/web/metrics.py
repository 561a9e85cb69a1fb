"""``/metrics``: Prometheus text format. Request counts and latency per route, and from the
store at each scrape: import runs by kind and status, rows inserted, and the ingest lag (age
of the last successful import of each kind)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from meterbook.store.schema import import_runs


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = import_runs.c
        runs = CounterMetricFamily(
            "meterbook_import_runs", "Import runs", labels=["kind", "status"]
        )
        rows = CounterMetricFamily(
            "meterbook_rows_inserted", "Records inserted by imports", labels=["kind"]
        )
        lag = GaugeMetricFamily(
            "meterbook_ingest_lag_seconds",
            "Seconds since the last successful import of each kind",
            labels=["kind"],
        )
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.engine.connect() as conn:
            for kind, status, count in conn.execute(
                select(c.kind, c.status, func.count()).group_by(c.kind, c.status)
            ):
                runs.add_metric([kind, status], count)
            for kind, inserted in conn.execute(
                select(c.kind, func.sum(c.inserted)).group_by(c.kind)
            ):
                rows.add_metric([kind], int(inserted or 0))
            for kind, last in conn.execute(
                select(c.kind, func.max(c.finished_at)).where(c.status == "ok").group_by(c.kind)
            ):
                if last is not None:
                    lag.add_metric([kind], max(0.0, (now - last).total_seconds()))
        yield runs
        yield rows
        yield lag


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "meterbook_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "meterbook_http_request_seconds",
        "HTTP request latency",
        ["route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    registry.register(StoreCollector(app.state.store.engine))
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        latency.labels(name).observe(time.perf_counter() - started)
        requests.labels(request.method, name, str(response.status_code)).inc()
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "same-origin")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("x-frame-options", "DENY")
        return response

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
