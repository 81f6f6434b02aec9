"""Connecting to the PostgreSQL decision store: the URL from the config, credentials from the
environment, and the session settings every connection gets.

The URL never holds credentials (refused at load, core/config/store.py). libpq itself reads PGUSER,
PGPASSWORD, PGPASSFILE and ~/.pgpass. A password file holding just the password (a mounted
Kubernetes Secret) is read when one is named: ADRISK_STORE_PASSWORD_FILE wins over the config's
`store.password_file`, and either wins over libpq's own sources.

Every connection runs with `synchronous_commit = on` whatever the server, database or role
default: a commit returns only once its WAL is flushed, so an acknowledged decision survives a
server crash. (With synchronous standbys configured, `on` also waits for one to flush it.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg

from core.config import StoreConfig, resolve_project_path

PASSWORD_FILE_ENV = "ADRISK_STORE_PASSWORD_FILE"
APPLICATION_NAME = "adrisk"


class StoreConnectionError(ConnectionError):
    """The PostgreSQL store cannot be reached or refuses the credentials: one line for the operator
    (an OSError, so the CLI's one-line error handling reports it as such)."""


def password_file(config: StoreConfig) -> Path | None:
    """The password file in force: the environment's, else the config's, else none."""
    value = os.environ.get(PASSWORD_FILE_ENV) or config.password_file
    return resolve_project_path(value) if value else None


def connection_kwargs(config: StoreConfig) -> dict[str, Any]:
    """Keyword arguments for psycopg.connect beside the URL (they override what libpq would read)."""
    kwargs: dict[str, Any] = {"application_name": APPLICATION_NAME, "autocommit": True,
                              "connect_timeout": max(1, round(config.connect_timeout_s))}
    path = password_file(config)
    if path is not None:
        try:
            kwargs["password"] = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise StoreConnectionError(f"store password file {path}: {exc.strerror or exc}") from None
    return kwargs


def configure(conn: psycopg.Connection) -> None:
    """Session settings of every store connection: durable commits, and READ COMMITTED transactions
    (each statement sees what committed before it; the store's read-after-conflict relies on it)."""
    conn.execute("SET synchronous_commit = on")
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED


def connect(config: StoreConfig) -> psycopg.Connection:
    """One configured connection in autocommit mode (migrations, copies, the CLI)."""
    assert config.url is not None, "not a PostgreSQL store"
    try:
        conn = psycopg.connect(config.url, **connection_kwargs(config))
    except psycopg.OperationalError as exc:
        raise StoreConnectionError(f"cannot connect to the store at {config.url}: {reason(exc)}") from None
    configure(conn)
    return conn


def reason(exc: BaseException) -> str:
    """A psycopg error on one line (libpq's messages span several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
