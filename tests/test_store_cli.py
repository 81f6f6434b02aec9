"""`adrisk store status | migrate | copy` as an operator runs them, against a real PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
import yaml

from core.config import CONFIG_DIR, StoreConfig
from core.net import free_port
from core.pg_connection import PASSWORD_FILE_ENV
from core.store import Feedback, Sighting, SQLiteDecisionStore, StoredDecision
from core.store_factory import open_store
from tests.store_fixtures import fresh_pg_config


def adrisk(*args: str, password_file: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if password_file:
        env[PASSWORD_FILE_ENV] = password_file
    return subprocess.run([sys.executable, "-m", "commands.cli", "store", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def sqlite_log(path) -> SQLiteDecisionStore:
    store = SQLiteDecisionStore(path)
    for i, action in enumerate(("reject", "approve", "human_review", "reject")):
        sightings = [Sighting(f"image[{k}]", (i * 1_000_003 + k) * 2_654_435_761 % (1 << 64), cited=k == 0)
                     for k in range(i % 3)]
        store.put(StoredDecision(f"r{i}", f"digest-{i}", {"request_id": f"r{i}", "i": i}, action, "default@2",
                                 1000.25 + i, f"adv-{i % 2}", ("weapons",), tuple(sightings),
                                 inputs={"content_scores": {"weapons": 0.1 * i}}))
    store.add_feedback(Feedback("r1", "review", "alice", {"weapons": True}, "reject", "leak", 2000.5))
    store.add_feedback(Feedback("r0", "appeal", "bob", {}, "approve", "overturned", 2001.5))
    store.set_rollout("text_heads", {"stable": "1", "candidate": "2", "mode": "canary"}, "carol", "canary")
    return store


def snapshot(store) -> dict:
    """Everything the interface reads, for comparing two stores."""
    return {"decisions": [(d, d.inputs) for d in store.decisions()], "hashes": store.hash_records(),
            "bank": store.hash_records(bank_only=True), "feedback": store.all_feedback(),
            "rollouts": store.rollouts(), "history": store.rollout_history("text_heads"),
            "version": store.version(), "rejections": (store.rejections("adv-0"), store.rejections("adv-1"))}


def test_status_and_migrate_bring_a_new_database_up_to_date(pg_server):
    config = fresh_pg_config(pg_server, migrate=False)
    pw = str(pg_server.password_file)
    status = adrisk("status", "--store", config.url, password_file=pw)
    assert status.returncode == 0, status.stderr
    assert "backend   postgres" in status.stdout and "pending: 0001_init (run `adrisk store migrate`)" in status.stdout
    first = adrisk("migrate", "--store", config.url, password_file=pw)
    assert first.returncode == 0 and first.stdout.strip().endswith("applied 0001_init"), first.stdout + first.stderr
    again = adrisk("migrate", "--store", config.url, password_file=pw)
    assert again.returncode == 0 and "schema current (0001_init)" in again.stdout
    status = adrisk("status", "--store", config.url, password_file=pw)
    assert "1 migration(s) applied, current" in status.stdout and "decisions 0" in status.stdout


def test_copy_moves_a_sqlite_log_row_for_row_and_a_rerun_copies_nothing(pg_server, tmp_path):
    source = sqlite_log(tmp_path / "decisions.sqlite3")
    target = fresh_pg_config(pg_server, migrate=False)  # copy migrates first
    pw = str(pg_server.password_file)
    done = adrisk("copy", "--from", str(tmp_path / "decisions.sqlite3"), "--to", target.url, password_file=pw)
    assert done.returncode == 0, done.stderr
    assert "applied 0001_init" in done.stdout
    assert "decisions          4 in the SQLite log,         4 copied" in done.stdout
    copied = open_store(target)
    try:
        assert snapshot(copied) == snapshot(source)
        again = adrisk("copy", "--from", str(tmp_path / "decisions.sqlite3"), "--to", target.url, password_file=pw)
        assert again.returncode == 0 and "sightings          3 in the SQLite log,         0 copied" in again.stdout
        assert snapshot(copied) == snapshot(source)
        # New rows continue after the copied ids (the sequences moved past them).
        source.put(StoredDecision("new", "d", {}, "reject", "default@2", 5000.0, "adv-0", ("weapons",),
                                  (Sighting("image[0]", 77, cited=True),)))
        copied.put(StoredDecision("new", "d", {}, "reject", "default@2", 5000.0, "adv-0", ("weapons",),
                                  (Sighting("image[0]", 77, cited=True),)))
        fb = Feedback("new", "review", "dan", {}, "reject", "", 5001.0)
        assert copied.add_feedback(fb).id == source.add_feedback(fb).id == 3
        assert copied.version() == source.version()
    finally:
        copied.close()


def test_copy_refuses_a_target_holding_other_rows_under_the_same_ids_and_writes_nothing(pg_server, tmp_path):
    sqlite_log(tmp_path / "decisions.sqlite3")
    target = fresh_pg_config(pg_server)
    other = open_store(target)
    try:
        other.put(StoredDecision("r2", "another", {}, "approve", "default@2", 1.0))
        done = adrisk("copy", "--from", str(tmp_path / "decisions.sqlite3"), "--to", target.url,
                      password_file=str(pg_server.password_file))
        assert done.returncode == 1
        assert done.stderr.strip().splitlines()[-1] == (
            "adrisk store copy: decisions: the target already holds other rows under request_id r2: "
            "copy into a database no service writes to yet")
        assert [d.request_id for d in other.decisions()] == ["r2"]
    finally:
        other.close()


def test_copy_reads_an_old_sqlite_log_without_changing_it(pg_server, tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE decisions (request_id TEXT PRIMARY KEY, input_digest TEXT NOT NULL, action TEXT "
                   "NOT NULL, policy_version TEXT NOT NULL, response_json TEXT NOT NULL, created_at REAL NOT NULL)")
        db.execute("INSERT INTO decisions VALUES ('old', 'd', 'approve', 'default@1', '{}', 1.0)")
    before = path.read_bytes()
    target = fresh_pg_config(pg_server)
    done = adrisk("copy", "--from", str(path), "--to", target.url, password_file=str(pg_server.password_file))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == before  # opened read-only: not migrated in place
    copied = open_store(target)
    try:
        (old,) = copied.decisions()
        assert (old.request_id, old.advertiser_id, old.categories, old.inputs) == ("old", None, (), {})
    finally:
        copied.close()


def test_prepare_migrates_a_profile_whose_store_is_postgres(pg_server, tmp_path):
    """`adrisk prepare` (which `adrisk serve` runs first) brings a PostgreSQL store's schema up to date."""
    config = fresh_pg_config(pg_server, migrate=False)
    configs = tmp_path / "configs"
    (configs / "profiles").mkdir(parents=True)
    for entry in CONFIG_DIR.iterdir():  # the shipped taxonomy, policies, maps beside the test profile
        if entry.name != "profiles":
            (configs / entry.name).symlink_to(entry)
    doc = yaml.safe_load((CONFIG_DIR / "profiles" / "cpu.yaml").read_text())
    doc["store"] = {"url": config.url, "password_file": str(pg_server.password_file)}
    doc.pop("llm", None)  # no GGUF conversion in this test
    profile = configs / "profiles" / "pg.yaml"
    profile.write_text(yaml.safe_dump(doc))
    done = subprocess.run([sys.executable, "-m", "commands.cli", "prepare", "--profile", str(profile)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"PostgreSQL store {config.url}: applied 0001_init" in done.stdout
    open_store(config).close()  # migrated: a replica may open it


@pytest.mark.slow  # a child interpreter per case: the adrisk CLI's error path
@pytest.mark.parametrize("args, message", [
    (("migrate", "--store", "postgresql://u:pw@127.0.0.1:5432/x"), "must not hold credentials"),
    (("copy", "--to", "postgresql://127.0.0.1:5432/x"), "--from SQLITE_PATH is required"),
    (("copy", "--from", "/nonexistent.sqlite3", "--to", "var/x.sqlite3"), "--to must be a postgresql:// URL"),
])
def test_mistakes_are_one_line(args, message):
    done = adrisk(*args)
    assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow  # a child interpreter per case: the adrisk CLI's error path
def test_an_unreachable_server_is_one_line(tmp_path):
    config = StoreConfig(url=f"postgresql://127.0.0.1:{free_port()}/adrisk")
    done = adrisk("migrate", "--store", config.url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"adrisk store migrate: cannot connect to the store at {config.url}")
