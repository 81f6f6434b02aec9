"""Decision log, reviewer feedback and the known-bad creative bank, in one durable store.

A small interface (`DecisionStore`) with two implementations, chosen by the config's `store`
section (core/store_factory.py): SQLite here, embedded, for one machine; PostgreSQL
(core/store_postgres.py) for replicas on many nodes. SQLite runs in WAL mode with
synchronous=FULL, and a decision and its creative hashes are one transaction, so a crash leaves
either the whole record or none of it.

The *effective* action of a decision is the latest reviewer verdict's final action when there is
one (an appeal that approves overturns a reject), else the action the service took. Repeat-offender
counts and the known-bad bank both follow the effective action.

The records themselves (StoredDecision, Sighting, Feedback, HashRecord, BankChanges) and the row
mapping both backends share are in core/store_records.py, re-exported here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.store_records import (
    BANK_ACTIONS,
    DECISION_COLUMNS,
    FEEDBACK_COLUMNS,
    HASH_RECORD_COLUMNS,
    BankChanges,
    Feedback,
    HashRecord,
    Sighting,
    StoredDecision,
    decision_from_row,
    feedback_from_row,
    hash_record_from_row,
    signed_phash,
    unsigned_phash,
)

# The records and row mappings live in core/store_records.py; importers may take them from here.
__all__ = [
    "BANK_ACTIONS", "DECISION_COLUMNS", "FEEDBACK_COLUMNS", "HASH_RECORD_COLUMNS",
    "BankChanges", "DecisionStore", "Feedback", "HashRecord", "SQLiteDecisionStore", "Sighting", "StoredDecision",
    "decision_from_row", "feedback_from_row", "hash_record_from_row", "signed_phash", "unsigned_phash",
]

class DecisionStore(ABC):
    @abstractmethod
    def get(self, request_id: str) -> StoredDecision | None: ...

    def put(self, record: StoredDecision) -> StoredDecision:
        """Insert, or replace when rescored. Returns what is stored for the id afterwards."""
        return self.put_many([record])[0]

    def insert_if_absent(self, record: StoredDecision) -> StoredDecision:
        """First writer wins: concurrent duplicates of one id all get the same stored decision."""
        return self.insert_many_if_absent([record])[0]

    @abstractmethod
    def put_many(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        """`put` of each record, in order, as one transaction: one commit, and so one wait for
        durability, for the whole group. Either every record is stored or, when it raises, none is.
        Returns what is stored for each afterwards."""

    @abstractmethod
    def insert_many_if_absent(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        """`insert_if_absent` of each record, in order, as one transaction (see put_many): per record
        the first writer of its id wins, a later record of the same id included, and each gets the
        decision stored for its id."""

    @abstractmethod
    def attach_summary(
        self, request_id: str, created_at: float, status: str, diagnosis: dict[str, Any] | None,
        versions: dict[str, str],
    ) -> bool:
        """Write a diagnosis that finished after its decision was answered into the stored response of
        the decision made at `created_at` (summary_status, diagnosis, LLM versions). False when that
        decision is gone or was replaced by a rescore: a late diagnosis never lands on another one."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def add_feedback(self, feedback: Feedback) -> Feedback:
        """Store a verdict beside its decision; KeyError when the decision is unknown."""

    @abstractmethod
    def feedback_for(self, request_id: str) -> list[Feedback]: ...

    @abstractmethod
    def all_feedback(self) -> list[Feedback]:
        """Every verdict, oldest first (training on reviewer feedback)."""

    @abstractmethod
    def rejections(self, advertiser_id: str, exclude_request_id: str | None = None) -> int:
        """Decisions of this advertiser whose effective action is reject or suspend_account."""

    @abstractmethod
    def version(self) -> tuple[int, int]:
        """(last sighting id, last feedback id): changes whenever the bank may have changed."""

    @abstractmethod
    def hash_records(self, since: float = 0.0, bank_only: bool = False) -> list[HashRecord]: ...

    def bank_changes(self, after: tuple[int, int]) -> BankChanges:
        """Every decision with a sighting id or feedback id above `after` (a version()), with its
        bank records (as hash_records(bank_only=True)), read in one snapshot together with the
        version they reflect: an index that replaces those decisions' records is current to it.

        This default reads the whole bank (`complete`); a store overrides it with a query for the
        changed decisions only."""
        version = self.version()  # before the records: they are never older than it
        return BankChanges(version, frozenset(), tuple(self.hash_records(bank_only=True)), complete=True)

    @abstractmethod
    def decisions(self, since: float = 0.0, until: float | None = None) -> list[StoredDecision]: ...

    @abstractmethod
    def set_rollout(self, component: str, state: dict[str, Any], actor: str, note: str = "") -> int:
        """Append a rollout state for a component (the history is the audit trail)."""

    @abstractmethod
    def rollouts(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """(last rollout id, the current state per component)."""

    @abstractmethod
    def rollout_history(self, component: str) -> list[dict[str, Any]]: ...

    def close(self) -> None:  # noqa: B027 - a no-op by default, not abstract
        """Release what the store holds open (a connection pool); SQLite's per-thread connections
        close with their threads."""


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
CREATE TABLE IF NOT EXISTS sightings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT NOT NULL REFERENCES decisions(request_id),
    source      TEXT NOT NULL,
    phash       INTEGER NOT NULL,
    cited       INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sightings_request ON sightings(request_id);
CREATE INDEX IF NOT EXISTS sightings_created ON sightings(created_at);
CREATE TABLE IF NOT EXISTS feedback (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   TEXT NOT NULL REFERENCES decisions(request_id),
    kind         TEXT NOT NULL,
    reviewer     TEXT NOT NULL,
    labels_json  TEXT NOT NULL,
    final_action TEXT NOT NULL,
    note         TEXT NOT NULL,
    created_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback(request_id);
CREATE TABLE IF NOT EXISTS rollouts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    component   TEXT NOT NULL,
    state_json  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL,
    created_at  REAL NOT NULL
);
"""
# Columns added after the first release: added in place to an older database.
_MIGRATIONS = {
    "advertiser_id": "ALTER TABLE decisions ADD COLUMN advertiser_id TEXT",
    "categories_json": "ALTER TABLE decisions ADD COLUMN categories_json TEXT NOT NULL DEFAULT '[]'",
    "inputs_json": "ALTER TABLE decisions ADD COLUMN inputs_json TEXT NOT NULL DEFAULT '{}'",
}
_EFFECTIVE = ("COALESCE((SELECT f.final_action FROM feedback f WHERE f.request_id = d.request_id "
              "ORDER BY f.id DESC LIMIT 1), d.action)")
class SQLiteDecisionStore(DecisionStore):
    """Thread-safe: one connection per thread, WAL so readers never block the writer."""

    def __init__(self, path: str | Path, clock=time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._local = threading.local()
        conn = self._connect()
        conn.executescript(_SCHEMA)
        have = {row[1] for row in conn.execute("PRAGMA table_info(decisions)")}
        for column, ddl in _MIGRATIONS.items():
            if column not in have:
                conn.execute(ddl)
        conn.execute("CREATE INDEX IF NOT EXISTS decisions_advertiser ON decisions(advertiser_id)")

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
            f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else decision_from_row(row)

    def put_many(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        self._write(records, replace=True)
        return list(records)

    def insert_many_if_absent(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        self._write(records, replace=False)
        stored = self._get_many([record.request_id for record in records])
        return [stored[record.request_id] for record in records]

    def _get_many(self, request_ids: list[str]) -> dict[str, StoredDecision]:
        conn, found = self._connect(), {}
        unique = list(dict.fromkeys(request_ids))
        for at in range(0, len(unique), 500):  # below SQLite's bound on variables per statement
            chunk = unique[at:at + 500]
            rows = conn.execute(f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id IN "
                                f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            found.update((row[0], decision_from_row(row)) for row in rows)
        return found

    def _write(self, records: Sequence[StoredDecision], replace: bool) -> None:
        """Every record in one transaction (one fsync at COMMIT under synchronous=FULL)."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for record in records:
                self._write_one(conn, record, replace)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write_one(self, conn: sqlite3.Connection, record: StoredDecision, replace: bool) -> None:
        if not replace and conn.execute("SELECT 1 FROM decisions WHERE request_id = ?",
                                        (record.request_id,)).fetchone():
            return  # the first writer of the id wins
        created = record.created_at or self._clock()
        conn.execute("DELETE FROM sightings WHERE request_id = ?", (record.request_id,))
        conn.execute(
            f"INSERT OR REPLACE INTO decisions ({DECISION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.request_id, record.input_digest, json.dumps(record.response, separators=(",", ":")),
             record.action, record.policy_version, created, record.advertiser_id,
             json.dumps(list(record.categories)), json.dumps(record.inputs, separators=(",", ":"))),
        )
        conn.executemany(
            "INSERT INTO sightings (request_id, source, phash, cited, created_at) VALUES (?, ?, ?, ?, ?)",
            [(record.request_id, s.source, signed_phash(s.phash), int(s.cited), created) for s in record.sightings],
        )

    def attach_summary(
        self, request_id: str, created_at: float, status: str, diagnosis: dict[str, Any] | None,
        versions: dict[str, str],
    ) -> bool:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT response_json FROM decisions WHERE request_id = ? AND created_at = ?",
                               (request_id, created_at)).fetchone()
            if row is None:
                conn.execute("COMMIT")
                return False
            response = json.loads(row[0])
            response.update(summary_status=status, diagnosis=diagnosis,
                            model_versions={**response.get("model_versions", {}), **versions})
            conn.execute("UPDATE decisions SET response_json = ? WHERE request_id = ? AND created_at = ?",
                         (json.dumps(response, separators=(",", ":")), request_id, created_at))
            conn.execute("COMMIT")
            return True
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    # ------------------------------------------------------------------ feedback
    def add_feedback(self, feedback: Feedback) -> Feedback:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not conn.execute("SELECT 1 FROM decisions WHERE request_id = ?", (feedback.request_id,)).fetchone():
                raise KeyError(feedback.request_id)
            created = feedback.created_at or self._clock()
            cur = conn.execute(
                "INSERT INTO feedback (request_id, kind, reviewer, labels_json, final_action, note, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (feedback.request_id, feedback.kind, feedback.reviewer, json.dumps(feedback.labels, sort_keys=True),
                 feedback.final_action, feedback.note, created),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Feedback(**{**feedback.__dict__, "id": int(cur.lastrowid), "created_at": created})

    def feedback_for(self, request_id: str) -> list[Feedback]:
        rows = self._connect().execute(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE request_id = ? ORDER BY id", (request_id,)).fetchall()
        return [feedback_from_row(r) for r in rows]

    def all_feedback(self) -> list[Feedback]:
        rows = self._connect().execute(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback ORDER BY id").fetchall()
        return [feedback_from_row(r) for r in rows]

    # ------------------------------------------------------------------ history, bank, trends
    def rejections(self, advertiser_id: str, exclude_request_id: str | None = None) -> int:
        row = self._connect().execute(
            f"SELECT COUNT(*) FROM decisions d WHERE d.advertiser_id = ? AND d.request_id != ? "
            f"AND {_EFFECTIVE} IN {BANK_ACTIONS}", (advertiser_id, exclude_request_id or "")).fetchone()
        return int(row[0])

    def version(self) -> tuple[int, int]:
        conn = self._connect()
        sightings = conn.execute("SELECT COALESCE(MAX(id), 0) FROM sightings").fetchone()[0]
        feedback = conn.execute("SELECT COALESCE(MAX(id), 0) FROM feedback").fetchone()[0]
        return int(sightings), int(feedback)

    def hash_records(self, since: float = 0.0, bank_only: bool = False) -> list[HashRecord]:
        """Sightings with their decision's effective action; a reviewer's positive labels replace the
        decision's categories when there is a verdict.

        The bank (bank_only) holds a rejected decision's *cited* images and frames only: the benign
        frames of a rejected video or a stock photo beside violating copy are not known-bad. A
        reviewer's verdict vouches for the whole creative."""
        return self._hash_records(self._connect(), "s.created_at >= ?", (since,), bank_only)

    def bank_changes(self, after: tuple[int, int]) -> BankChanges:
        conn = self._connect()
        touched = "SELECT request_id FROM sightings WHERE id > ? UNION SELECT request_id FROM feedback WHERE id > ?"
        conn.execute("BEGIN")  # one WAL snapshot for the version and both reads
        try:
            version = self.version()
            request_ids = frozenset(r[0] for r in conn.execute(touched, after))
            records = self._hash_records(conn, f"d.request_id IN ({touched})", after, bank_only=True)
        finally:
            conn.execute("COMMIT")
        return BankChanges(version, request_ids, tuple(records))

    @staticmethod
    def _hash_records(conn: sqlite3.Connection, condition: str, params: tuple, bank_only: bool) -> list[HashRecord]:
        where = (f"AND {_EFFECTIVE} IN {BANK_ACTIONS} AND (s.cited = 1 OR EXISTS "
                 "(SELECT 1 FROM feedback f WHERE f.request_id = d.request_id))") if bank_only else ""
        rows = conn.execute(
            f"SELECT {HASH_RECORD_COLUMNS.format(effective=_EFFECTIVE)} "
            f"FROM sightings s JOIN decisions d ON d.request_id = s.request_id WHERE {condition} {where} "
            "ORDER BY s.id", params).fetchall()
        return [hash_record_from_row(r) for r in rows]

    def decisions(self, since: float = 0.0, until: float | None = None) -> list[StoredDecision]:
        rows = self._connect().execute(
            f"SELECT {DECISION_COLUMNS} FROM decisions WHERE created_at >= ? AND created_at <= ? "
            "ORDER BY created_at", (since, until if until is not None else float("inf"))).fetchall()
        return [decision_from_row(r) for r in rows]

    # ------------------------------------------------------------------ rollouts
    def set_rollout(self, component: str, state: dict[str, Any], actor: str, note: str = "") -> int:
        cur = self._connect().execute(
            "INSERT INTO rollouts (component, state_json, actor, note, created_at) VALUES (?, ?, ?, ?, ?)",
            (component, json.dumps(state, sort_keys=True), actor, note, self._clock()))
        return int(cur.lastrowid)

    def rollouts(self) -> tuple[int, dict[str, dict[str, Any]]]:
        conn = self._connect()
        last = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM rollouts").fetchone()[0])
        rows = conn.execute("SELECT component, state_json FROM rollouts WHERE id IN "
                            "(SELECT MAX(id) FROM rollouts GROUP BY component)").fetchall()
        return last, {component: json.loads(state) for component, state in rows}

    def rollout_history(self, component: str) -> list[dict[str, Any]]:
        rows = self._connect().execute(
            "SELECT id, state_json, actor, note, created_at FROM rollouts WHERE component = ? ORDER BY id",
            (component,)).fetchall()
        return [{"id": r[0], "state": json.loads(r[1]), "actor": r[2], "note": r[3], "created_at": r[4]}
                for r in rows]
