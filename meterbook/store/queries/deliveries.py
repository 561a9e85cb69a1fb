"""Deliveries: one row per message sent to a recipient, updated after every attempt."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from meterbook.store.schema_ops import deliveries

#: ``sending`` while attempts go on, then ``sent`` or ``failed``.
DELIVERY_STATUSES = ("sending", "sent", "failed")


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    recipient: str
    channel: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_delivery(
    engine: Engine, recipient: str, channel: str, subject: str, now: datetime
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(deliveries).values(
                recipient=recipient,
                channel=channel,
                subject=subject,
                status="sending",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def record_attempt(
    engine: Engine,
    delivery_id: int,
    *,
    attempts: int,
    status: str,
    last_error: str | None,
    now: datetime,
) -> None:
    assert status in DELIVERY_STATUSES
    with engine.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(attempts=attempts, status=status, last_error=last_error, updated_at=now)
        )


def list_deliveries(
    conn: Connection, *, recipient: str | None = None, limit: int = 50
) -> list[DeliveryRow]:
    """Deliveries, newest first."""
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if recipient is not None:
        query = query.where(deliveries.c.recipient == recipient)
    return [DeliveryRow(**row) for row in conn.execute(query).mappings()]
