"""`adrisk store copy`: move a SQLite decision log into a PostgreSQL store, row for row.

Decisions, sightings, verdicts and rollout states keep their ids and times. The copy is one
transaction (all of it lands or none) and idempotent: rows already in the target are skipped
when they are identical, so a rerun (after an interruption, or to pick up rows written since)
copies only what is new. A row whose id the target already holds with other content is a
conflict: nothing is written and the conflicting ids are named (copy into a database that no
service writes to yet). Afterwards the id sequences move past the copied ids.

The source is opened read-only; an old SQLite log without the later columns (advertiser_id,
categories_json, inputs_json) copies with their defaults.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.store_postgres import FEEDBACK_LOCK, ROLLOUTS_LOCK, SIGHTINGS_LOCK


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[str, ...]
    defaults: dict[str, str]  # column → SQLite expression for logs written before it existed
    identity: bool  # the key is an identity whose sequence must move past copied ids


TABLES = (
    Table("decisions", "request_id",
          ("request_id", "input_digest", "action", "policy_version", "response_json", "created_at",
           "advertiser_id", "categories_json", "inputs_json"),
          {"advertiser_id": "NULL", "categories_json": "'[]'", "inputs_json": "'{}'"}, identity=False),
    Table("sightings", "id", ("id", "request_id", "source", "phash", "cited", "created_at"), {}, identity=True),
    Table("feedback", "id", ("id", "request_id", "kind", "reviewer", "labels_json", "final_action", "note",
                             "created_at"), {}, identity=True),
    Table("rollouts", "id", ("id", "component", "state_json", "actor", "note", "created_at"), {}, identity=True),
)
_BATCH = 5000


class CopyConflict(RuntimeError):
    """The target holds other rows under ids the source uses."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    copied: int

    @property
    def already_there(self) -> int:
        return self.source_rows - self.copied


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(f"no SQLite decision log at {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _select(source: sqlite3.Connection, table: Table) -> str | None:
    have = {row[1] for row in source.execute(f"PRAGMA table_info({table.name})")}
    if not have:
        return None  # a log older than this table
    exprs = [c if c in have else f"{table.defaults[c]} AS {c}" for c in table.columns]
    return f"SELECT {', '.join(exprs)} FROM {table.name} ORDER BY {table.key}"


def _copy_table(source: sqlite3.Connection, target: psycopg.Connection, table: Table) -> TableCopy:
    query = _select(source, table)
    if query is None:
        return TableCopy(table.name, 0, 0)
    staging = f"copy_{table.name}"
    columns = ", ".join(table.columns)
    target.execute(f"CREATE TEMP TABLE {staging} (LIKE {table.name}) ON COMMIT DROP")
    rows = 0
    cursor = source.execute(query)
    with target.cursor().copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
        while batch := cursor.fetchmany(_BATCH):
            for row in batch:
                copy.write_row(tuple(bool(v) if c == "cited" else v for c, v in zip(table.columns, row, strict=True)))
            rows += len(batch)
    differing = [r[0] for r in target.execute(
        f"SELECT s.{table.key} FROM {staging} s JOIN {table.name} t ON t.{table.key} = s.{table.key} "
        f"WHERE ({', '.join(f's.{c}' for c in table.columns)}) IS DISTINCT FROM "
        f"({', '.join(f't.{c}' for c in table.columns)}) ORDER BY 1 LIMIT 5")]
    if differing:
        raise CopyConflict(f"{table.name}: the target already holds other rows under {table.key} "
                           f"{', '.join(map(str, differing))}: copy into a database no service writes to yet")
    copied = target.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} ORDER BY {table.key} "
        f"ON CONFLICT ({table.key}) DO NOTHING").rowcount
    if table.identity:  # the next id allocated follows both the copied ids and any allocated before
        sequence = f"pg_get_serial_sequence('{table.name}', '{table.key}')::regclass"
        target.execute(f"SELECT setval({sequence}, GREATEST(COALESCE(MAX({table.key}), 0), "
                       f"COALESCE(pg_sequence_last_value({sequence}), 0)) + 1, false) FROM {table.name}")
    return TableCopy(table.name, rows, copied)


def copy_sqlite_to_postgres(source_path: Path, target: psycopg.Connection) -> list[TableCopy]:
    """Copy every table in one transaction of `target` (a migrated PostgreSQL store)."""
    source = _open_source(source_path)
    try:
        with target.transaction():
            for lock in (SIGHTINGS_LOCK, FEEDBACK_LOCK, ROLLOUTS_LOCK):  # writers allocating ids wait
                target.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            return [_copy_table(source, target, table) for table in TABLES]
    finally:
        source.close()
