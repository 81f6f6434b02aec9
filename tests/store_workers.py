"""Writers that run in other processes (multiprocessing, spawn) against one store: what the
concurrency tests of tests/test_store_postgres.py start. Each opens its own store from a config."""

from __future__ import annotations

import os
import time
from typing import Any

from core.config import StoreConfig
from core.store import Sighting, StoredDecision


def decision(rid: str, writer: str, at: float, sightings: int = 3, pad: int = 0) -> StoredDecision:
    """A decision whose response and hashes name the writer that made it."""
    salt = sum(map(ord, writer)) * 1_000_003
    hashes = tuple(Sighting(f"image[{k}]", (salt + k * 7919 + int(at) * 31) % (1 << 64), cited=k == 0)
                   for k in range(sightings))
    return StoredDecision(rid, f"digest-{rid}", {"request_id": rid, "writer": writer, "pad": "x" * pad}, "reject",
                          "default@2", at, "adv", ("scam_fraud",), hashes)


def report(results: Any, target: Any, *args: Any) -> None:
    """Run `target(*args)` and put what it returns on `results` (a multiprocessing queue)."""
    results.put(target(*args))


def same_ids(config: dict[str, Any], writer: str, ids: list[str], barrier: Any) -> dict[str, dict]:
    """insert_if_absent every id, all writers released together: id → the response this writer got."""
    from core.store_factory import open_store

    store = open_store(StoreConfig.model_validate(config))
    try:
        barrier.wait(timeout=60)
        return {rid: store.insert_if_absent(decision(rid, writer, 1000.0 + os.getpid() % 97)).response
                for rid in ids}
    finally:
        store.close()


def migrate_together(config: dict[str, Any], barrier: Any) -> list[str]:
    """Apply the migrations at the same moment as the other processes; the labels this one applied."""
    from core.pg_connection import connect
    from core.store_migrations import migrate

    with connect(StoreConfig.model_validate(config)) as conn:
        barrier.wait(timeout=60)
        return [m.label for m in migrate(conn)]


def keep_writing(config: dict[str, Any], writer: str, acks: Any, stop: Any) -> None:
    """put() decisions with 5 hashes each until told to stop; every acknowledged id goes to `acks`
    after put() returned (committed). A put that fails (past the store's own retries) is not acked."""
    from core.store_factory import open_store

    store = open_store(StoreConfig.model_validate(config))
    i = 0
    try:
        while not stop.is_set():
            rid = f"{writer}-{i}"
            try:
                store.put(decision(rid, writer, 1000.0 + i, sightings=5, pad=500))
            except Exception as exc:  # a failed write is simply not acknowledged
                acks.put(("error", rid, type(exc).__name__))
                time.sleep(0.1)
            else:
                acks.put(("ack", rid, time.monotonic()))
            i += 1
    finally:
        store.close()
        acks.put(("done", writer, i))
