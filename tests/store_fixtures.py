"""Store fixtures for both backends: `store_config` / `store` run a test on SQLite and on a real
PostgreSQL (one server per test session, a fresh database per test); `pg_server` is that server.

Registered in tests/conftest.py. psycopg is imported only when a PostgreSQL fixture runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from core.config import StoreConfig
from core.store import DecisionStore
from tests.postgres_server import PostgresServer, PostgresUnavailable

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
        yield server
    finally:
        server.close()


def fresh_pg_config(server: PostgresServer, migrate: bool = True, **settings: object) -> StoreConfig:
    """A new empty database on `server` (migrated unless asked not to), as a store config."""
    config = StoreConfig(url=server.create_database(f"adrisk_test_{next(_databases)}"),
                         password_file=str(server.password_file), **settings)
    if migrate:
        from core.pg_connection import connect
        from core.store_migrations import migrate as apply

        with connect(config) as conn:
            apply(conn)
    return config


@pytest.fixture(params=["sqlite", "postgres"])
def store_config(request: pytest.FixtureRequest, tmp_path) -> StoreConfig:
    if request.param == "sqlite":
        return StoreConfig(path=str(tmp_path / "decisions.sqlite3"))
    return fresh_pg_config(request.getfixturevalue("pg_server"))


@pytest.fixture
def store(store_config: StoreConfig) -> Iterator[DecisionStore]:
    from core.store_factory import open_store

    opened = open_store(store_config)
    try:
        yield opened
    finally:
        opened.close()
