"""`DecisionStore` on PostgreSQL, for replicas on many nodes sharing one decision log.

The guarantees of SQLiteDecisionStore, kept with the database's own means:

* A decision and its sightings are one transaction; a call returns only after COMMIT, and every
  connection runs with `synchronous_commit = on` (core/pg_connection.py), so an acknowledged
  decision survives a server crash.
* `insert_if_absent` is `INSERT ... ON CONFLICT (request_id) DO NOTHING` and then a read: the
  primary key decides between concurrent writers of one id on any number of nodes, and every
  writer gets the decision that won.
* Ids of sightings, verdicts and rollout states become visible in the order they were allocated:
  each write that allocates them holds a transaction-scoped advisory lock (one per table) from the
  allocation to its commit. `version()` and `rollouts()` report the largest id, so when the largest
  id moves every smaller one is already visible, as with SQLite's single writer. Without this a
  slower transaction could commit a smaller id after a reader had seen a larger one, and the
  known-bad bank of every ingress would miss that sighting until the next write. Decisions without
  sightings never take the lock.
* A lost connection (a server restart, a fail-over) is retried on another one for `store.retry_s`.
  Appending a verdict or a rollout state is not retried when the connection was lost during its
  COMMIT (it may have committed): the caller sees the error. Everything else may run twice.

The schema comes from core/migrations/postgres/ (`adrisk store migrate`); opening a store
whose database lacks a migration fails with that advice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from core.config import StoreConfig
from core.pg_connection import StoreConnectionError, configure, connect, connection_kwargs
from core.store import (
    BANK_ACTIONS,
    DECISION_COLUMNS,
    FEEDBACK_COLUMNS,
    HASH_RECORD_COLUMNS,
    BankChanges,
    DecisionStore,
    Feedback,
    HashRecord,
    StoredDecision,
    decision_from_row,
    feedback_from_row,
    hash_record_from_row,
    signed_phash,
)
from core.store_migrations import check_current

T = TypeVar("T")

# pg_advisory_xact_lock keys ("adrisk" + n): held from id allocation to commit, per table.
SIGHTINGS_LOCK = 0x61647269736B0002
FEEDBACK_LOCK = 0x61647269736B0003
ROLLOUTS_LOCK = 0x61647269736B0004

_EFFECTIVE = ("COALESCE((SELECT f.final_action FROM feedback f WHERE f.request_id = d.request_id "
              "ORDER BY f.id DESC LIMIT 1), d.action)")
_RETRY_PAUSE_S = 0.2


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class PostgresDecisionStore(DecisionStore):
    """Thread-safe: a psycopg connection pool, one connection per call."""

    def __init__(self, config: StoreConfig, clock: Callable[[], float] = time.time) -> None:
        if config.url is None:
            raise ValueError("PostgresDecisionStore needs store.url")
        self.config = config
        self._clock = clock
        probe = connect(config)  # fails at once, with libpq's reason, on a wrong URL or credentials
        try:
            check_current(probe)
        finally:
            probe.close()
        self._pool = ConnectionPool(config.url, kwargs=connection_kwargs(config), min_size=1,
                                    max_size=config.pool_size, configure=configure, open=False,
                                    timeout=config.connect_timeout_s, name="adrisk-store")
        try:
            self._pool.open(wait=True, timeout=config.connect_timeout_s)
        except PoolTimeout:
            self._pool.close()
            raise StoreConnectionError(f"cannot open connections to the store at {config.url} within "
                                       f"{config.connect_timeout_s:g} s") from None

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------------ plumbing
    def _run(self, work: Callable[[psycopg.Connection], T], transaction: bool = False, idempotent: bool = True) -> T:
        """`work` on a pooled connection, in one transaction when asked. A lost connection (server
        restart, fail-over) is retried on another one until `retry_s` has passed, unless the work is
        not idempotent and the connection was lost during its COMMIT (it may have committed)."""
        deadline = time.monotonic() + self.config.retry_s
        while True:
            committing = False
            try:
                with self._pool.connection() as conn:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        result = work(conn)
                        committing = True  # leaving the block sends COMMIT
                    return result
            except (psycopg.OperationalError, PoolTimeout):
                if (committing and not idempotent) or time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY_PAUSE_S)

    # ------------------------------------------------------------------ decisions
    def get(self, request_id: str) -> StoredDecision | None:
        return self._run(lambda conn: self._get(conn, request_id))

    def _get(self, conn: psycopg.Connection, request_id: str) -> StoredDecision | None:
        row = conn.execute(f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = %s",
                           (request_id,)).fetchone()
        return None if row is None else decision_from_row(row)

    def put_many(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        stamped = self._stamped(records)
        self._run(lambda conn: self._write(conn, stamped, replace=True), transaction=True)
        return list(records)

    def insert_many_if_absent(self, records: Sequence[StoredDecision]) -> list[StoredDecision]:
        stamped = self._stamped(records)

        def write_then_read(conn: psycopg.Connection) -> list[StoredDecision]:
            self._write(conn, stamped, replace=False)
            # READ COMMITTED: a new statement, a new snapshot, which holds whichever writer won (a
            # conflicting insert waits for the other writer's transaction to end).
            ids = list(dict.fromkeys(record.request_id for record, _ in stamped))
            stored = {row[0]: decision_from_row(row) for row in conn.execute(
                f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ANY(%s)", (ids,))}
            missing = set(ids) - set(stored)
            assert not missing, f"decisions {sorted(missing)} vanished after their insert"
            return [stored[record.request_id] for record in records]

        return self._run(write_then_read, transaction=True)

    def _stamped(self, records: Sequence[StoredDecision]) -> list[tuple[StoredDecision, float]]:
        """Each record with its creation time (the clock's when it has none), in request_id order: two
        groups that share ids then lock their rows in the same order and never deadlock. The sort is
        stable, so records of one id keep their order (the first insert of an id wins, the last put)."""
        return sorted(((record, record.created_at or self._clock()) for record in records),
                      key=lambda pair: pair[0].request_id)

    def _write(self, conn: psycopg.Connection, records: list[tuple[StoredDecision, float]], replace: bool) -> None:
        """Inside the caller's transaction. The sightings' advisory lock, when any record has sightings,
        is taken before any row, so it is always taken before the row locks of a group. The upsert's
        row lock makes concurrent writers of one id take turns before its sightings change."""
        if any(record.sightings for record, _ in records):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SIGHTINGS_LOCK,))
        on_conflict = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in DECISION_COLUMNS.split(", ")[1:])
                       if replace else "DO NOTHING")
        for record, created in records:
            values = (record.request_id, record.input_digest, _json(record.response), record.action,
                      record.policy_version, created, record.advertiser_id, json.dumps(list(record.categories)),
                      _json(record.inputs))
            written = conn.execute(
                f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (request_id) {on_conflict} RETURNING request_id", values).fetchone()
            if written is None:
                continue  # another writer's decision stands
            if replace:
                conn.execute("DELETE FROM sightings WHERE request_id = %s", (record.request_id,))
            if record.sightings:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO sightings (request_id, source, phash, cited, created_at) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(record.request_id, s.source, signed_phash(s.phash), s.cited, created)
                         for s in record.sightings])

    def attach_summary(
        self, request_id: str, created_at: float, status: str, diagnosis: dict[str, Any] | None,
        versions: dict[str, str],
    ) -> bool:
        def attach(conn: psycopg.Connection) -> bool:
            row = conn.execute("SELECT response_json FROM decisions WHERE request_id = %s AND created_at = %s "
                               "FOR UPDATE", (request_id, created_at)).fetchone()
            if row is None:
                return False  # gone, or rescored since (another created_at)
            response = json.loads(row[0])
            response.update(summary_status=status, diagnosis=diagnosis,
                            model_versions={**response.get("model_versions", {}), **versions})
            conn.execute("UPDATE decisions SET response_json = %s WHERE request_id = %s AND created_at = %s",
                         (_json(response), request_id, created_at))
            return True

        return self._run(attach, transaction=True)

    def count(self) -> int:
        return self._run(lambda conn: int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]))

    # ------------------------------------------------------------------ feedback
    def add_feedback(self, feedback: Feedback) -> Feedback:
        created = feedback.created_at or self._clock()

        def append(conn: psycopg.Connection) -> int:
            if conn.execute("SELECT 1 FROM decisions WHERE request_id = %s", (feedback.request_id,)).fetchone() is None:
                raise KeyError(feedback.request_id)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (FEEDBACK_LOCK,))
            return int(conn.execute(
                "INSERT INTO feedback (request_id, kind, reviewer, labels_json, final_action, note, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (feedback.request_id, feedback.kind, feedback.reviewer, json.dumps(feedback.labels, sort_keys=True),
                 feedback.final_action, feedback.note, created)).fetchone()[0])

        new_id = self._run(append, transaction=True, idempotent=False)
        return Feedback(**{**feedback.__dict__, "id": new_id, "created_at": created})

    def feedback_for(self, request_id: str) -> list[Feedback]:
        return self._run(lambda conn: [feedback_from_row(r) for r in conn.execute(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE request_id = %s ORDER BY id", (request_id,))])

    def all_feedback(self) -> list[Feedback]:
        return self._run(lambda conn: [feedback_from_row(r) for r in conn.execute(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback ORDER BY id")])

    # ------------------------------------------------------------------ history, bank, trends
    def rejections(self, advertiser_id: str, exclude_request_id: str | None = None) -> int:
        params = (advertiser_id, exclude_request_id or "", list(BANK_ACTIONS))
        return self._run(lambda conn: int(conn.execute(
            f"SELECT COUNT(*) FROM decisions d WHERE d.advertiser_id = %s AND d.request_id <> %s "
            f"AND {_EFFECTIVE} = ANY(%s)", params).fetchone()[0]))

    def version(self) -> tuple[int, int]:
        return self._run(self._version)

    @staticmethod
    def _version(conn: psycopg.Connection) -> tuple[int, int]:
        row = conn.execute("SELECT (SELECT COALESCE(MAX(id), 0) FROM sightings), "
                           "(SELECT COALESCE(MAX(id), 0) FROM feedback)").fetchone()
        return int(row[0]), int(row[1])

    def hash_records(self, since: float = 0.0, bank_only: bool = False) -> list[HashRecord]:
        """As SQLiteDecisionStore.hash_records: the bank holds a rejected decision's cited sightings,
        and every sighting of a decision a reviewer has ruled on."""
        return self._run(lambda conn: self._hash_records(conn, "s.created_at >= %s", (since,), bank_only))

    def bank_changes(self, after: tuple[int, int]) -> BankChanges:
        """As DecisionStore.bank_changes, in one REPEATABLE READ snapshot. Ids become visible in
        allocation order (the advisory locks above), so every id up to the version read is in it."""
        touched = "SELECT request_id FROM sightings WHERE id > %s UNION SELECT request_id FROM feedback WHERE id > %s"

        def read(conn: psycopg.Connection) -> BankChanges:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            version = self._version(conn)
            request_ids = frozenset(r[0] for r in conn.execute(touched, after))
            records = self._hash_records(conn, f"d.request_id IN ({touched})", after, bank_only=True)
            return BankChanges(version, request_ids, tuple(records))

        return self._run(read, transaction=True)

    @staticmethod
    def _hash_records(conn: psycopg.Connection, condition: str, params: tuple, bank_only: bool) -> list[HashRecord]:
        where = (f"AND {_EFFECTIVE} = ANY(%s) AND (s.cited OR EXISTS "
                 "(SELECT 1 FROM feedback f WHERE f.request_id = d.request_id))") if bank_only else ""
        rows = conn.execute(
            f"SELECT {HASH_RECORD_COLUMNS.format(effective=_EFFECTIVE)} "
            f"FROM sightings s JOIN decisions d ON d.request_id = s.request_id WHERE {condition} {where} "
            "ORDER BY s.id", (*params, list(BANK_ACTIONS)) if bank_only else params).fetchall()
        return [hash_record_from_row(r) for r in rows]

    def decisions(self, since: float = 0.0, until: float | None = None) -> list[StoredDecision]:
        rows = self._run(lambda conn: conn.execute(
            f"SELECT {DECISION_COLUMNS} FROM decisions WHERE created_at >= %s AND created_at <= %s "
            "ORDER BY created_at", (since, until if until is not None else float("inf"))).fetchall())
        return [decision_from_row(r) for r in rows]

    # ------------------------------------------------------------------ rollouts
    def set_rollout(self, component: str, state: dict[str, Any], actor: str, note: str = "") -> int:
        created = self._clock()

        def append(conn: psycopg.Connection) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLOUTS_LOCK,))
            return int(conn.execute(
                "INSERT INTO rollouts (component, state_json, actor, note, created_at) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING id", (component, json.dumps(state, sort_keys=True), actor, note, created)).fetchone()[0])

        return self._run(append, transaction=True, idempotent=False)

    def rollouts(self) -> tuple[int, dict[str, dict[str, Any]]]:
        # One statement, one snapshot: the last id and the states it covers.
        rows = self._run(lambda conn: conn.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM rollouts), c.component, c.state_json FROM "
            "(SELECT 1) AS one LEFT JOIN (SELECT DISTINCT ON (component) component, state_json FROM rollouts "
            "ORDER BY component, id DESC) AS c ON true").fetchall())
        last = int(rows[0][0]) if rows else 0
        return last, {component: json.loads(state) for _, component, state in rows if component is not None}

    def rollout_history(self, component: str) -> list[dict[str, Any]]:
        rows = self._run(lambda conn: conn.execute(
            "SELECT id, state_json, actor, note, created_at FROM rollouts WHERE component = %s ORDER BY id",
            (component,)).fetchall())
        return [{"id": int(r[0]), "state": json.loads(r[1]), "actor": r[2], "note": r[3], "created_at": r[4]}
                for r in rows]
