"""The few statements that differ between SQLite, PostgreSQL and MariaDB/MySQL.

Bulk paths take pyarrow tables: PostgreSQL gets them as CSV through ``COPY FROM STDIN``,
SQLite and MySQL as rows through a prepared ``executemany`` (PyMySQL folds it into multi-row
INSERTs). Identifiers in the SQL text are the schema's own constant names, checked.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import ColumnElement, Connection, Insert, MetaData, Table, func, literal_column
from sqlalchemy.dialects import mysql, postgresql, sqlite

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def backend(conn: Connection) -> str:
    """``sqlite``, ``postgresql`` or ``mysql``."""
    return conn.dialect.name if conn.dialect.name != "mariadb" else "mysql"


def _checked(*names: str) -> None:
    for name in names:
        if not _IDENT.fullmatch(name):
            raise ValueError(f"not an identifier: {name!r}")


def _q(conn: Connection, *names: str) -> str:
    """Identifiers checked, quoted where the database needs it (``partition`` on MySQL), and
    joined with commas."""
    _checked(*names)
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(n) for n in names)


def _mark(conn: Connection) -> str:
    return "?" if backend(conn) == "sqlite" else "%s"


def month_of(conn: Connection, day: ColumnElement[Any]) -> ColumnElement[str]:
    """``YYYY-MM`` of a date column."""
    # Constant formats as literals: a bound parameter in SELECT and another in GROUP BY
    # would make PostgreSQL see two different expressions.
    name = backend(conn)
    if name == "sqlite":
        return func.strftime(literal_column("'%Y-%m'"), day)
    if name == "postgresql":
        return func.to_char(day, literal_column("'YYYY-MM'"))
    return func.date_format(day, literal_column("'%Y-%m'"))


def insert_ignore(conn: Connection, table: Table) -> Insert:
    """An INSERT that silently skips rows whose unique key already exists."""
    name = backend(conn)
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return mysql.insert(table).prefix_with("IGNORE")


def rows_of(data: pa.Table, sqlite_text: bool = False) -> Iterator[tuple[Any, ...]]:
    """Rows of plain Python values; decimals as text for SQLite (which has no decimal)."""
    columns = []
    for column in data.columns:
        if sqlite_text and pa.types.is_decimal(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column.to_pylist())
    return zip(*columns, strict=True)


def _copy_csv(conn: Connection, name: str, columns: Sequence[str], data: pa.Table) -> None:
    """PostgreSQL ``COPY name (columns) FROM STDIN`` of ``data`` as CSV (empty = NULL)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, pa_csv.WriteOptions(include_header=False))
    driver = conn.connection.driver_connection
    assert driver is not None
    statement = f"COPY {_q(conn, name)} ({_q(conn, *columns)}) FROM STDIN WITH (FORMAT csv)"
    with driver.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert rows of plain Python values in ``columns`` order."""
    name = backend(conn)
    if name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        statement = f"COPY {_q(conn, table.name)} ({_q(conn, *columns)}) FROM STDIN"
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join([_mark(conn)] * len(columns))
    statement = f"INSERT INTO {_q(conn, table.name)} ({_q(conn, *columns)}) VALUES ({marks})"  # noqa: S608
    if name == "sqlite":  # the driver takes an iterator: no list of every row at once
        conn.connection.driver_connection.executemany(statement, rows)  # type: ignore[union-attr]
    else:
        batch = list(rows)
        if batch:
            conn.exec_driver_sql(statement, batch)


def _stage(conn: Connection, table: Table) -> Table:
    """PostgreSQL: a session-private, emptied-at-commit table shaped like ``table``."""
    stage = Table(f"mb_stage_{table.name}", MetaData())
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage.name} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    return stage


def _merge(
    conn: Connection, table: Table, stage: Table, keys: Sequence[str], columns: Sequence[str]
) -> None:
    """PostgreSQL: add the staged rows to ``table`` in one statement, then empty the stage."""
    measures = [c for c in columns if c not in keys]
    names = _q(conn, *columns)
    change = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in measures)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage.name} "  # noqa: S608
        f"ON CONFLICT ({_q(conn, *keys)}) DO UPDATE SET {change}"
    )
    conn.exec_driver_sql(f"TRUNCATE {stage.name}")


def upsert_rows(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """INSERT rows (values in ``columns`` order: the keys, then measures), or add their
    measures to the row with the same key."""
    if not rows:
        return
    measures = [c for c in columns if c not in keys]
    name = backend(conn)
    names = _q(conn, *columns)
    quote = conn.dialect.identifier_preparer.quote
    if name == "postgresql":
        stage = _stage(conn, table)
        insert_rows(conn, stage, columns, rows)
        _merge(conn, table, stage, keys, columns)
        return
    marks = ", ".join([_mark(conn)] * len(columns))
    if name == "mysql":
        change = ", ".join(f"{quote(m)} = {quote(m)} + VALUES({quote(m)})" for m in measures)
        tail = f"ON DUPLICATE KEY UPDATE {change}"
    else:
        change = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in measures)
        tail = f"ON CONFLICT ({_q(conn, *keys)}) DO UPDATE SET {change}"
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {tail}"  # noqa: S608
    conn.exec_driver_sql(statement, list(rows))


def bulk_insert(conn: Connection, table: Table, data: pa.Table) -> None:
    """Insert every row of ``data`` (its column names are ``table``'s).

    Columns null in every row are left out (they default to NULL): fewer values to bind.
    """
    if not data.num_rows:
        return
    data = data.select([c for c in data.column_names if data[c].null_count < data.num_rows])
    columns = data.column_names
    _checked(table.name, *columns)
    if backend(conn) == "postgresql":
        _copy_csv(conn, table.name, columns, data)
        return
    insert_rows(conn, table, columns, rows_of(data, backend(conn) == "sqlite"))


def upsert_add(conn: Connection, table: Table, keys: Sequence[str], data: pa.Table) -> None:
    """INSERT rows of ``data`` (keys, then measures), or add the measures to the row with the
    same key."""
    if not data.num_rows:
        return
    _checked(table.name, *data.column_names)
    if backend(conn) == "postgresql":
        stage = _stage(conn, table)
        _copy_csv(conn, stage.name, data.column_names, data)
        _merge(conn, table, stage, keys, data.column_names)
        return
    upsert_rows(conn, table, keys, data.column_names, list(rows_of(data, True)))


def bulk_update(conn: Connection, table: Table, data: pa.Table, ids: Sequence[int]) -> None:
    """``UPDATE table SET <data's columns> WHERE id = ?``, row by row with ``ids``."""
    columns = data.column_names
    _checked(table.name, *columns)
    if not ids:
        return
    mark = _mark(conn)
    assignments = ", ".join(f"{_q(conn, c)} = {mark}" for c in columns)
    statement = f"UPDATE {table.name} SET {assignments} WHERE id = {mark}"  # noqa: S608
    rows = [
        (*row, row_id)
        for row, row_id in zip(rows_of(data, backend(conn) == "sqlite"), ids, strict=True)
    ]
    conn.exec_driver_sql(statement, rows)


def select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    where: str,
    equals: Any,
    among: str,
    values: Sequence[Any],
    chunk: int = 1000,
) -> list[Any]:
    """Rows of ``columns`` where ``where == equals`` and ``among`` is one of ``values``.

    A plain statement per chunk rather than a compiled expression per call: this runs for
    every batch of every import.
    """
    _checked(table.name, *columns, where, among)
    head = f"SELECT {_q(conn, *columns)} FROM {table.name} WHERE {_q(conn, where)} = "  # noqa: S608
    if backend(conn) == "postgresql":
        statement = f"{head}%s AND {_q(conn, among)} = ANY(%s)"
        return list(conn.exec_driver_sql(statement, (equals, list(values))).all())
    mark = _mark(conn)
    found: list[Any] = []
    for i in range(0, len(values), chunk):
        part = list(values[i : i + chunk])
        statement = f"{head}{mark} AND {_q(conn, among)} IN ({', '.join([mark] * len(part))})"
        found.extend(conn.exec_driver_sql(statement, (equals, *part)).all())
    return found


def greatest(conn: Connection, table: Table, column: str, where: str, equals: Any) -> Any:
    """``MAX(column)`` of the rows where ``where == equals`` (an index probe when indexed)."""
    statement = (
        f"SELECT MAX({_q(conn, column)}) FROM {_q(conn, table.name)} "  # noqa: S608
        f"WHERE {_q(conn, where)} = {_mark(conn)}"
    )
    return conn.exec_driver_sql(statement, (equals,)).scalar()


def table_rows(conn: Connection, table: Table) -> int | None:
    """PostgreSQL's planner estimate of the rows of ``table`` (None on other databases)."""
    if backend(conn) != "postgresql":
        return None
    found = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table.name,)
    ).scalar()
    return max(int(found or 0), 0)


def analyze(conn: Connection, table: Table, columns: Sequence[str]) -> None:
    """Refresh the planner's statistics of ``columns`` (PostgreSQL only)."""
    if backend(conn) == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {_q(conn, table.name)} ({_q(conn, *columns)})")
