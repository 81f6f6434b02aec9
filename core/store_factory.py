"""Opening the decision store the config names: SQLite (`store.path`) or PostgreSQL (`store.url`).

Every place that opens a store goes through `open_store`. Command-line `--store` arguments take
either a SQLite path or a postgresql:// URL (`store_config_for`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from core.config import StoreConfig, resolve_project_path
from core.store import DecisionStore, SQLiteDecisionStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(config: StoreConfig, clock: Callable[[], float] = time.time) -> DecisionStore:
    """The store for this config. PostgreSQL: the schema must be migrated (`adrisk store migrate`)."""
    if config.backend == "postgres":
        from core.store_postgres import PostgresDecisionStore

        return PostgresDecisionStore(config, clock=clock)
    return SQLiteDecisionStore(resolve_project_path(config.path), clock=clock)


def store_config_for(target: str | Path, base: StoreConfig | None = None) -> StoreConfig:
    """A `--store` argument as a store config: a postgresql:// URL (validated, keeping `base`'s
    password file and pool settings), else a SQLite path relative to the working directory."""
    base = base or StoreConfig()
    text = str(target)
    if text.startswith(POSTGRES_SCHEMES):
        return StoreConfig.model_validate({**base.model_dump(), "url": text})
    return StoreConfig.model_validate({**base.model_dump(), "url": None, "path": str(Path(text).resolve())})


def describe(config: StoreConfig) -> str:
    """Where the store is, for messages (a URL never holds credentials)."""
    return config.url if config.backend == "postgres" else str(resolve_project_path(config.path))
