"""Kill -9 a process in the middle of writing decisions: every acknowledged decision survives,
with all of its hashes, and no decision is half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from serving.store import SQLiteDecisionStore

WRITER = r"""
import sys
from serving.store import Sighting, SQLiteDecisionStore, StoredDecision
store = SQLiteDecisionStore(sys.argv[1])
i = 0
while True:
    sightings = tuple(Sighting(f"image[{k}]", (i * 7919 + k) % (1 << 64)) for k in range(5))
    store.put(StoredDecision(f"crash-{i}", f"d{i}", {"request_id": f"crash-{i}", "pad": "x" * 2000}, "reject",
                             "default@2", 1000.0 + i, "adv", ("scam_fraud",), sightings))
    print(i, flush=True)  # acknowledged: put() returned, the transaction committed
    i += 1
"""


def test_sigkill_mid_write_loses_nothing_acknowledged_and_leaves_no_half_record(tmp_path):
    path = tmp_path / "crash.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    acknowledged = -1
    deadline = time.monotonic() + 60
    while acknowledged < 200 and time.monotonic() < deadline:
        acknowledged = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert acknowledged >= 200

    store = SQLiteDecisionStore(path)  # reopening recovers from the WAL
    conn = store._connect()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for i in range(acknowledged + 1):
        assert store.get(f"crash-{i}") is not None, f"acknowledged decision crash-{i} lost"
    per_decision = conn.execute("SELECT d.request_id, COUNT(s.id) FROM decisions d "
                                "LEFT JOIN sightings s ON s.request_id = d.request_id GROUP BY d.request_id").fetchall()
    assert all(n == 5 for _, n in per_decision), "a decision was stored without all of its hashes"
    assert len(per_decision) in (acknowledged + 1, acknowledged + 2)  # at most the one in flight, whole
