"""Decision log: every decision is stored before its response is sent.

A small interface (`DecisionStore`) so PostgreSQL can replace SQLite at scale; SQLite runs in WAL
mode with synchronous=FULL, one transaction per record, so a crash leaves either the whole record
or none of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StoredDecision:
    request_id: str
    input_digest: str
    response: dict[str, Any]
    action: str
    policy_version: str
    created_at: float


class DecisionStore(ABC):
    @abstractmethod
    def get(self, request_id: str) -> StoredDecision | None: ...

    @abstractmethod
    def put(self, record: StoredDecision) -> StoredDecision:
        """Insert, or replace when rescored. Returns what is stored for the id afterwards."""

    @abstractmethod
    def count(self) -> int: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    request_id     TEXT PRIMARY KEY,
    input_digest   TEXT NOT NULL,
    action         TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    response_json  TEXT NOT NULL,
    created_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_created ON decisions(created_at);
"""


class SQLiteDecisionStore(DecisionStore):
    """Thread-safe: one connection per thread, WAL so readers never block the writer."""

    def __init__(self, path: str | Path, clock=time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._local = threading.local()
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def get(self, request_id: str) -> StoredDecision | None:
        row = self._connect().execute(
            "SELECT request_id, input_digest, response_json, action, policy_version, created_at "
            "FROM decisions WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        return StoredDecision(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])

    def put(self, record: StoredDecision) -> StoredDecision:
        self._write(record, on_conflict="DO UPDATE SET input_digest=excluded.input_digest, "
                    "action=excluded.action, policy_version=excluded.policy_version, "
                    "response_json=excluded.response_json, created_at=excluded.created_at")
        return record

    def insert_if_absent(self, record: StoredDecision) -> StoredDecision:
        """First writer wins: concurrent duplicates of one id all get the same stored decision."""
        self._write(record, on_conflict="DO NOTHING")
        stored = self.get(record.request_id)
        assert stored is not None
        return stored

    def _write(self, record: StoredDecision, on_conflict: str) -> None:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO decisions (request_id, input_digest, action, policy_version, "
                f"response_json, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT(request_id) {on_conflict}",
                (
                    record.request_id,
                    record.input_digest,
                    record.action,
                    record.policy_version,
                    json.dumps(record.response, separators=(",", ":")),
                    record.created_at or self._clock(),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
