"""Kill -9 a process in the middle of writing decisions: every acknowledged decision survives,
with all of its hashes, and no decision is half-written. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from core.store import SQLiteDecisionStore
from core.store_factory import open_store

WRITER = r"""
import sys
from core.config import StoreConfig
from core.store import Sighting, StoredDecision
from core.store_factory import open_store
store = open_store(StoreConfig.model_validate_json(sys.argv[1]))
i = 0
while True:
    sightings = tuple(Sighting(f"image[{k}]", (i * 7919 + k) % (1 << 64)) for k in range(5))
    store.put(StoredDecision(f"crash-{i}", f"d{i}", {"request_id": f"crash-{i}", "pad": "x" * 2000}, "reject",
                             "default@2", 1000.0 + i, "adv", ("scam_fraud",), sightings))
    print(i, flush=True)  # acknowledged: put() returned, the transaction committed
    i += 1
"""


def test_sigkill_mid_write_loses_nothing_acknowledged_and_leaves_no_half_record(store_config):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, store_config.model_dump_json()], stdout=subprocess.PIPE,
                            text=True, cwd=os.getcwd())
    acknowledged = -1
    deadline = time.monotonic() + 60
    while acknowledged < 200 and time.monotonic() < deadline:
        acknowledged = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert acknowledged >= 200

    store = open_store(store_config)  # reopening SQLite recovers from the WAL
    try:
        if isinstance(store, SQLiteDecisionStore):
            assert store._connect().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for i in range(acknowledged + 1):
            assert store.get(f"crash-{i}") is not None, f"acknowledged decision crash-{i} lost"
        stored = {d.request_id for d in store.decisions()}
        per_decision = Counter(r.request_id for r in store.hash_records())
        assert all(per_decision[rid] == 5 for rid in stored), "a decision was stored without all of its hashes"
        assert len(stored) in (acknowledged + 1, acknowledged + 2)  # at most the one in flight, whole
    finally:
        store.close()
