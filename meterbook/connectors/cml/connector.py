"""The CML usage API as a ledger connector: workloads created in a time range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from meterbook.connectors.base import Connector, Item
from meterbook.connectors.cml.client import CmlClient
from meterbook.connectors.cml.records import to_record


class CmlUsageConnector(Connector):
    """Workloads of one workbench whose ``created_at`` lies in ``[start, end)``."""

    kind = "cml"
    natural_key = "the workload id (id)"

    def __init__(
        self, client: CmlClient, source: str, start: datetime, end: datetime, memory_unit: str
    ) -> None:
        super().__init__()
        self.client = client
        self.source = source
        self.start = start
        self.end = end
        self.memory_unit = memory_unit

    def items(self) -> Iterator[Item]:
        for index, raw in enumerate(self.client.usage(self.start, self.end), 1):
            yield to_record(raw, self.source, self.memory_unit, index)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "memory_unit": self.memory_unit,
        }
