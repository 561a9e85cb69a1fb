"""Day rollups in the database: rebuilding them from the raw records.

What a record contributes to each day is computed in :mod:`meterbook.accounting`; writing
those contributions is :func:`meterbook.store.ingest.apply_rollup`.
"""

from __future__ import annotations

from datetime import tzinfo

from sqlalchemy import Connection, delete, select

from meterbook.accounting import contributions
from meterbook.store.charging import rebuild_daily
from meterbook.store.cubes import CUBES
from meterbook.store.ingest import ID_DIMS, SHAPE_COLUMNS, apply_rollup, shape_table
from meterbook.store.schema import usage_daily, usage_records


def rebuild(conn: Connection, zone: tzinfo, page: int = 50000) -> int:
    """Recompute every rollup from the raw records; returns the records read. The charge
    rollup is recomputed from the stored charges, the coarser usage cubes with the day rollup.

    Reads the records in pages of ascending id (no open cursor while writing, which MySQL
    drivers do not allow) and adds each page's contributions before reading the next.
    """
    rebuild_daily(conn, zone)
    for table in (usage_daily, *(cube.table for cube in CUBES)):
        conn.execute(delete(table))
    columns = [usage_records.c.id, *(usage_records.c[c] for c in SHAPE_COLUMNS)]
    last, count = 0, 0
    while True:
        query = (
            select(*columns)
            .where(usage_records.c.id > last)
            .order_by(usage_records.c.id)
            .limit(page)
        )
        rows = conn.execute(query).all()
        if not rows:
            return count
        apply_rollup(conn, contributions(shape_table(rows), ID_DIMS, zone))
        count += len(rows)
        last = rows[-1].id
