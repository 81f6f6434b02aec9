"""PostgreSQL decision-store write throughput: decisions/s that `insert_if_absent` commits with N
writer processes, for decisions without image hashes and with some (the capacity model's
`db_decisions_per_s_*`, docs/capacity.md).

    python -m benchmarks.store_writes [--writers 4] [--seconds 10] [--hashes 0,3,16] [--pad 4000]
                                      [--out docs/benchmarks.md]

A throwaway PostgreSQL (tests/postgres_server.py: initdb into a temporary directory, fsync on,
127.0.0.1) and one fresh migrated database per phase; each writer process opens its own
`PostgresDecisionStore` (a pool, `synchronous_commit = on`) and commits new decisions, each with
`--hashes` sightings and a response padded to about `--pad` bytes, until the phase ends. Writers and
server share the machine's cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from typing import Any

from benchmarks.report import publish
from core.config import StoreConfig

PHASE_START_TIMEOUT_S = 60


def write_for(config: dict[str, Any], writer: str, hashes: int, pad: int, seconds: float, barrier: Any,
              results: Any) -> None:
    """Commit decisions for `seconds` after every writer is ready; report how many."""
    from core.store_factory import open_store
    from tests.store_workers import decision

    store = open_store(StoreConfig.model_validate(config))
    try:
        store.insert_if_absent(decision(f"{writer}-warm", writer, 1.0, sightings=hashes, pad=pad))
        barrier.wait(timeout=PHASE_START_TIMEOUT_S)
        deadline = time.monotonic() + seconds
        done = 0
        while time.monotonic() < deadline:
            store.insert_if_absent(decision(f"{writer}-{done}", writer, 1000.0 + done, sightings=hashes, pad=pad))
            done += 1
        results.put((writer, done))
    finally:
        store.close()


def phase(server: Any, name: str, writers: int, hashes: int, pad: int, seconds: float) -> float:
    from core.pg_connection import connect
    from core.store_migrations import migrate

    config = StoreConfig(url=server.create_database(name), password_file=str(server.password_file), pool_size=2)
    with connect(config) as conn:
        migrate(conn)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=write_for, args=(config.model_dump(), f"w{i}", hashes, pad, seconds, barrier, results))
             for i in range(writers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=PHASE_START_TIMEOUT_S)
    started = time.monotonic()
    counts = [results.get(timeout=seconds + PHASE_START_TIMEOUT_S)[1] for _ in procs]
    elapsed = max(time.monotonic() - started, seconds)
    for p in procs:
        p.join(timeout=30)
    return sum(counts) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_writes", description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hashes", default="0,3,16", help="sightings per decision, one phase each")
    parser.add_argument("--pad", type=int, default=4000, help="bytes of padding in each stored response")
    parser.add_argument("--out", default=None, help="also write the section into this markdown file")
    args = parser.parse_args(argv)
    from tests.postgres_server import PostgresServer

    load_before = os.getloadavg()
    server = PostgresServer()
    rows = []
    try:
        server.start()
        for i, hashes in enumerate(int(h) for h in args.hashes.split(",")):
            rate = phase(server, f"bench_writes_{i}", args.writers, hashes, args.pad, args.seconds)
            rows.append((hashes, rate))
    finally:
        server.close()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"- Date {date}; `python -m benchmarks.store_writes --writers {args.writers} --seconds "
             f"{args.seconds:g} --hashes {args.hashes} --pad {args.pad}`",
             f"- Machine: nproc {os.cpu_count()}; load average (1/5 min) before the run "
             f"{load_before[0]:.2f} / {load_before[1]:.2f}; PostgreSQL on 127.0.0.1 (fsync on, synchronous_commit on), "
             "writers and server on the same cores",
             "", "| image hashes per decision | decisions/s | hash rows/s |", "|---:|---:|---:|"]
    lines += [f"| {h} | {rate:,.0f} | {rate * h:,.0f} |" for h, rate in rows]
    publish("\n".join(lines), "PostgreSQL decision writes", "store_writes", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
