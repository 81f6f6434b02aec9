"""The PostgreSQL decision store against a real server the tests start (tests/postgres_server.py):
configuration and credentials, durable sessions, migrations, concurrent writers of one id in
several processes, ids visible in commit order, a server restart under load.

The interface itself runs on both backends in tests/test_store_interface.py, test_decision_log.py,
test_pending_summaries.py and test_store_crash.py.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter

import psycopg
import pytest
from pydantic import ValidationError

from core.config import StoreConfig
from core.pg_connection import PASSWORD_FILE_ENV, StoreConnectionError, connect
from core.store_factory import open_store, store_config_for
from core.store_migrations import Migration, SchemaError, applied, available, migrate
from core.store_postgres import PostgresDecisionStore
from tests import store_workers
from tests.postgres_server import PostgresServer
from tests.store_fixtures import fresh_pg_config

SPAWN = multiprocessing.get_context("spawn")  # no forked psycopg pools


def _in_processes(target, arg_lists: list[tuple]) -> list:
    """`target(*args)` for each args in its own spawned process, all at once; what each returned."""
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=store_workers.report, args=(results, target, *args)) for args in arg_lists]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return out


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize("url, message", [
    ("postgresql://adrisk:s3cret@db:5432/adrisk", "must not hold credentials"),
    ("postgresql://adrisk@db:5432/adrisk", "must not hold credentials"),
    ("postgresql://db:5432/adrisk?password=s3cret", "must not hold credentials (password)"),
    ("postgresql://db:5432/adrisk?sslmode=require&user=x", "must not hold credentials (user)"),
    ("mysql://db:3306/adrisk", "must start with postgresql://"),
    ("postgresql://db:5432/", "must name a database"),
    ("postgresql://db:notaport/adrisk", "store.url"),
])
def test_a_bad_store_url_is_refused_at_load(url, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StoreConfig(url=url)


def test_the_url_chooses_postgres_and_cli_targets_keep_the_profiles_password_settings(tmp_path):
    assert StoreConfig().backend == "sqlite"
    config = StoreConfig(url="postgresql://db.internal:5432/adrisk?sslmode=require")
    assert config.backend == "postgres"
    base = StoreConfig(password_file="/run/secrets/pg", pool_size=3)
    target = store_config_for("postgresql://db:5432/adrisk", base)
    assert (target.backend, target.password_file, target.pool_size) == ("postgres", "/run/secrets/pg", 3)
    local = store_config_for("var/d.sqlite3", base)
    assert local.backend == "sqlite" and local.path.startswith("/") and local.path.endswith("var/d.sqlite3")


def test_credentials_come_from_the_password_file_or_the_environment(pg_server, tmp_path, monkeypatch):
    url = fresh_pg_config(pg_server).url
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))  # nothing from the machine's ~/.pgpass
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv(PASSWORD_FILE_ENV, raising=False)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")

    with pytest.raises(StoreConnectionError, match="password"):
        open_store(StoreConfig(url=url, connect_timeout_s=3))  # no password anywhere
    with pytest.raises(StoreConnectionError, match="password authentication failed"):
        open_store(StoreConfig(url=url, password_file=str(wrong), connect_timeout_s=3))
    with pytest.raises(StoreConnectionError, match="No such file"):
        open_store(StoreConfig(url=url, password_file=str(tmp_path / "absent")))

    monkeypatch.setenv(PASSWORD_FILE_ENV, str(pg_server.password_file))  # wins over the config's file
    open_store(StoreConfig(url=url, password_file=str(wrong))).close()
    monkeypatch.delenv(PASSWORD_FILE_ENV)
    monkeypatch.setenv("PGPASSWORD", pg_server.password)  # libpq's own variable
    open_store(StoreConfig(url=url)).close()
    monkeypatch.setenv("PGUSER", "nobody_here")  # the user comes from the environment too
    with pytest.raises(StoreConnectionError, match="nobody_here"):
        open_store(StoreConfig(url=url, connect_timeout_s=3))


def test_every_store_connection_commits_synchronously_whatever_the_database_default(pg_server):
    config = fresh_pg_config(pg_server)
    database = config.url.rsplit("/", 1)[1]
    pg_server.admin(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    with psycopg.connect(config.url, password=pg_server.password) as plain:
        assert plain.execute("SHOW synchronous_commit").fetchone()[0] == "off"
    store = PostgresDecisionStore(config.model_copy(update={"pool_size": 2}))
    try:
        seen = {store._run(lambda conn: conn.execute("SHOW synchronous_commit").fetchone()[0]) for _ in range(6)}
    finally:
        store.close()
    assert seen == {"on"}


# ------------------------------------------------------------------ migrations
def test_a_store_refuses_an_unmigrated_database_and_migrate_is_idempotent(pg_server):
    config = fresh_pg_config(pg_server, migrate=False)
    with pytest.raises(SchemaError, match=r"lacks migration\(s\) 0001_init: run `adrisk store migrate`"):
        open_store(config)
    with connect(config) as conn:
        assert [m.label for m in migrate(conn)] == [m.label for m in available()]
        assert migrate(conn) == []
        assert set(applied(conn)) == {m.version for m in available()}
    open_store(config).close()


def test_replicas_migrating_together_apply_each_version_once(pg_server):
    config = fresh_pg_config(pg_server, migrate=False)
    n = 4
    barrier = SPAWN.Barrier(n)
    results = _in_processes(store_workers.migrate_together, [(config.model_dump(), barrier)] * n)
    assert sorted(map(len, results)) == [0] * (n - 1) + [len(available())]
    with connect(config) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(available())


def test_an_edited_migration_is_refused_and_a_newer_schema_is_served(pg_server, tmp_path):
    config = fresh_pg_config(pg_server)
    (first,) = available()
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    later = Migration(2, "advertiser_notes", "CREATE TABLE advertiser_notes (id text PRIMARY KEY)")
    with connect(config) as conn:
        with pytest.raises(SchemaError, match="0001_init was edited after it was applied"):
            migrate(conn, [edited])
        assert [m.label for m in migrate(conn, [first, later])] == ["0002_advertiser_notes"]
    open_store(config).close()  # migrated by newer code: this code still serves it
    for name in ("0001_a.sql", "0003_c.sql"):
        (tmp_path / name).write_text("SELECT 1")
    with pytest.raises(SchemaError, match="without gaps"):
        available(tmp_path)


# ------------------------------------------------------------------ concurrency
def test_many_processes_writing_one_id_store_one_decision_and_all_see_it(pg_server):
    config = fresh_pg_config(pg_server)
    writers, ids = 6, [f"same-{k}" for k in range(15)]
    barrier = SPAWN.Barrier(writers)
    answers = _in_processes(store_workers.same_ids,
                            [(config.model_dump(), f"writer-{w}", ids, barrier) for w in range(writers)])
    store = open_store(config)
    try:
        assert store.count() == len(ids)
        records = Counter(r.request_id for r in store.hash_records())
        for rid in ids:
            stored = store.get(rid)
            assert stored is not None
            assert all(answer[rid] == stored.response for answer in answers), f"writers disagree on {rid}"
            assert records[rid] == 3, f"{rid}: {records[rid]} sightings, not one writer's 3"
    finally:
        store.close()


def test_sighting_ids_become_visible_in_allocation_order(pg_server):
    """When the largest sighting id is visible every smaller one is: the known-bank's version() and
    incremental sync rely on it. Readers poll while four processes write decisions with hashes."""
    config = fresh_pg_config(pg_server)
    acks, stop = SPAWN.Queue(), SPAWN.Event()
    procs = [SPAWN.Process(target=store_workers.keep_writing, args=(config.model_dump(), f"w{w}", acks, stop))
             for w in range(4)]
    for p in procs:
        p.start()
    store = open_store(config)
    gaps, polls = [], 0
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (polls < 300 or store.version()[0] < 400):
            last, _ = store.version()
            seen = {r.id for r in store.hash_records()}
            missing = set(range(1, last + 1)) - seen
            if missing:
                gaps.append((last, sorted(missing)[:5]))
            polls += 1
    finally:
        stop.set()
        _drain(acks, procs)
        store.close()
    assert polls >= 100
    assert not gaps, f"ids below the visible maximum were not yet visible: {gaps[:3]}"


def _drain(acks, procs) -> list[tuple]:
    """Everything the writers reported, until each said done; then they are joined. A writer that
    died without saying done (an exception outside its loop) fails the test at once, with its exit
    code, instead of the wait running out."""
    out, done = [], 0
    deadline = time.monotonic() + 120
    while done < len(procs) and time.monotonic() < deadline:
        try:
            item = acks.get(timeout=1)
        except queue.Empty:
            dead = [(p.name, p.exitcode) for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"writer process(es) died without finishing: {dead}; reported so far: {out[-3:]}"
            continue
        out.append(item)
        done += item[0] == "done"
    assert done == len(procs), f"only {done} of {len(procs)} writers finished within 120 s: {out[-3:]}"
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
            p.join()
    return out


@pytest.fixture
def own_server():
    """A server of its own, for a test that stops and starts it."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.mark.slow  # a PostgreSQL server of its own, restarted under load
def test_every_acknowledged_decision_survives_server_restarts_mid_load(own_server):
    config = fresh_pg_config(own_server, retry_s=60.0, connect_timeout_s=5.0, pool_size=2)
    acks, stop = SPAWN.Queue(), SPAWN.Event()
    procs = [SPAWN.Process(target=store_workers.keep_writing, args=(config.model_dump(), f"w{w}", acks, stop))
             for w in range(3)]
    for p in procs:
        p.start()
    events: list[tuple] = []

    def writing() -> int:
        return len({e[1].rsplit("-", 1)[0] for e in events if e[0] == "ack"})

    def collect(until_acks: int, limit_s: float = 90, writers: int = 0) -> None:
        deadline = time.monotonic() + limit_s
        while ((sum(e[0] == "ack" for e in events) < until_acks or writing() < writers)
               and time.monotonic() < deadline):
            try:
                events.append(acks.get(timeout=1))
            except queue.Empty:
                pass

    try:
        # Every writer has its store open and has written before the first restart: a store that
        # cannot connect when it opens fails at once (by design), which is not what this test is about.
        collect(60, writers=len(procs))
        assert writing() == len(procs), f"not every writer got going: {events[-3:]}"
        before = sum(e[0] == "ack" for e in events)
        own_server.stop("immediate")  # no shutdown checkpoint: the next start replays the WAL
        time.sleep(1.0)
        own_server.start()
        collect(before + 60)
        middle = sum(e[0] == "ack" for e in events)
        own_server.stop("fast")  # clean shutdown: in-flight sessions are terminated
        time.sleep(1.0)
        own_server.start()
        collect(middle + 60)
    finally:
        stop.set()
        events += _drain(acks, procs)
    acked = [e[1] for e in events if e[0] == "ack"]
    errors = [e for e in events if e[0] == "error"]
    assert len(acked) >= before + 120, f"writers did not get going again after the restarts ({len(acked)} acks)"
    assert not errors, f"writes failed past the store's retries: {errors[:3]}"
    store = open_store(config)
    try:
        stored = {d.request_id for d in store.decisions()}
        lost = [rid for rid in acked if rid not in stored]
        assert not lost, f"{len(lost)} acknowledged decisions lost, e.g. {lost[:3]}"
        per_decision = Counter(r.request_id for r in store.hash_records())
        assert all(per_decision[rid] == 5 for rid in stored), "a decision is stored without all of its hashes"
    finally:
        store.close()
