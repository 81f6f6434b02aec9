"""PostgreSQL schema migrations, versioned in the repository (core/migrations/postgres/).

Each file `NNNN_name.sql` is one version; versions run in order, each once, recorded in
`schema_migrations` with the file's sha256. `migrate` applies every pending version in one
transaction under a transaction-scoped advisory lock, so replicas that start together (or an
operator's `adrisk store migrate` beside them) never apply a version twice or see half a schema:
the second waits for the first and then finds nothing to do. An applied file that has since been
edited is refused (migrations are append-only: change the schema with a new file).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations" / "postgres"
MIGRATION_LOCK = 0x61647269736B0001  # pg_advisory_xact_lock key ("adrisk" + 1)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class SchemaError(RuntimeError):
    """The database schema does not match the migrations of this code."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The repository's migrations in order; numbered 1, 2, 3 ... without gaps or repeats."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise SchemaError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations in {directory} must be numbered 1..n without gaps: {versions}")
    return found


def applied(conn: psycopg.Connection) -> dict[int, str]:
    """version → sha256 of what the database has applied; empty when it has never been migrated."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    return {int(v): str(h) for v, h in conn.execute("SELECT version, sha256 FROM schema_migrations")}


def _check_unchanged(done: dict[int, str], migrations: list[Migration]) -> None:
    for m in migrations:
        if m.version in done and done[m.version] != m.sha256:
            raise SchemaError(f"migration {m.label} was edited after it was applied (sha256 {done[m.version][:12]}… "
                              f"in the database, {m.sha256[:12]}… in the file): add a new migration instead")


def migrate(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply the pending migrations; returns those this call applied (none when up to date)."""
    migrations = available() if migrations is None else migrations
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(_TABLE)
        done = applied(conn)
        _check_unchanged(done, migrations)
        pending = [m for m in migrations if m.version not in done]
        for m in pending:
            conn.execute(m.sql.encode("utf-8"))
            conn.execute("INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                         (m.version, m.name, m.sha256))
    return pending


def pending(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """What `migrate` would apply now."""
    migrations = available() if migrations is None else migrations
    done = applied(conn)
    _check_unchanged(done, migrations)
    return [m for m in migrations if m.version not in done]


def check_current(conn: psycopg.Connection) -> None:
    """Refuse to serve on a schema older than this code (a newer one, migrated by newer code, is fine:
    migrations only add)."""
    missing = pending(conn)
    if missing:
        raise SchemaError(f"the store's schema lacks migration(s) {', '.join(m.label for m in missing)}: "
                          "run `adrisk store migrate` (or `adrisk prepare`) first")
