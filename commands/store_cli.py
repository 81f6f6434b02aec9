"""`adrisk store`: the decision store's schema and moving a log between backends.

    adrisk store status  [--profile P | --store URL_OR_PATH]   # backend, where, schema, decisions
    adrisk store migrate [--profile P | --store URL_OR_PATH]   # apply pending PostgreSQL migrations
    adrisk store copy --from var/decisions.sqlite3 [--to postgresql://host:5432/adrisk]

`copy` migrates the target first, then copies (core/store_copy.py). Credentials come from the
environment (PGUSER, PGPASSWORD, ADRISK_STORE_PASSWORD_FILE) or the profile's
`store.password_file`, never from the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config import StoreConfig, load_config
from core.store_factory import describe, open_store, store_config_for


class StoreCommandError(RuntimeError):
    pass


@contextmanager
def _one_line(action: str) -> Iterator[None]:
    """Expected failures (no server, wrong password, schema, conflicts, bad URL) as one line."""
    from core.pg_connection import StoreConnectionError, reason
    from core.store_copy import CopyConflict
    from core.store_migrations import SchemaError

    try:
        yield
    except ValidationError as exc:
        raise SystemExit(f"adrisk store {action}: {'; '.join(e['msg'] for e in exc.errors())}") from None
    except (StoreConnectionError, SchemaError, CopyConflict, StoreCommandError, FileNotFoundError) as exc:
        raise SystemExit(f"adrisk store {action}: {exc}") from None
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise SystemExit(f"adrisk store {action}: {reason(exc)}") from None
        raise


def migrate_store(config: StoreConfig) -> str:
    """Bring the store's schema up to date; one line saying what was done. SQLite migrates itself
    in place when opened; PostgreSQL applies core/migrations/postgres/ (core/store_migrations.py)."""
    if config.backend == "sqlite":
        open_store(config).close()
        return f"SQLite store {describe(config)}: schema current (migrated in place when opened)"
    from core.pg_connection import connect
    from core.store_migrations import available, migrate

    with connect(config) as conn:
        applied = migrate(conn)
    head = available()[-1].label
    if not applied:
        return f"PostgreSQL store {describe(config)}: schema current ({head})"
    return f"PostgreSQL store {describe(config)}: applied {', '.join(m.label for m in applied)}"


def _config(args: argparse.Namespace) -> StoreConfig:
    base = load_config(args.profile).store
    return store_config_for(args.store, base) if args.store else base


def cmd_store(args: argparse.Namespace) -> int:
    if args.action == "copy" and not args.source:
        raise SystemExit("adrisk store copy: --from SQLITE_PATH is required")
    with _one_line(args.action):
        if args.action == "migrate":
            print(migrate_store(_config(args)))
        elif args.action == "status":
            for line in _status(_config(args)):
                print(line)
        else:
            _copy(args)
    return 0


def _status(config: StoreConfig) -> list[str]:
    lines = [f"backend   {config.backend}", f"location  {describe(config)}"]
    if config.backend == "postgres":
        from core.pg_connection import connect
        from core.store_migrations import applied, available

        with connect(config) as conn:
            done = applied(conn)
        waiting = [m.label for m in available() if m.version not in done]
        lines.append(f"schema    {len(done)} migration(s) applied" +
                     (f"; pending: {', '.join(waiting)} (run `adrisk store migrate`)" if waiting else ", current"))
        if waiting:
            return lines
    store = open_store(config)
    try:
        lines.append(f"decisions {store.count()}")
    finally:
        store.close()
    return lines


def _copy(args: argparse.Namespace) -> None:
    from core.pg_connection import connect
    from core.store_copy import copy_sqlite_to_postgres

    base = load_config(args.profile).store
    target = store_config_for(args.to, base) if args.to else base
    if target.backend != "postgres":
        raise StoreCommandError("--to must be a postgresql:// URL (or the profile's store.url must be set)")
    print(migrate_store(target))
    with connect(target) as conn:
        results = copy_sqlite_to_postgres(Path(args.source).resolve(), conn)
    for r in results:
        print(f"{r.table:<10} {r.source_rows:>9} in the SQLite log, {r.copied:>9} copied, "
              f"{r.already_there:>9} already there")
    print(f"copied {Path(args.source).resolve()} → {describe(target)}")


def add_store_parser(sub: Any) -> None:
    p = sub.add_parser("store", help="decision store: status, migrate the PostgreSQL schema, copy SQLite into it")
    p.add_argument("action", choices=["status", "migrate", "copy"])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--store", default=None, help="status/migrate: a postgresql:// URL or SQLite path "
                   "(default: the profile's store)")
    p.add_argument("--from", dest="source", default=None, help="copy: the SQLite decision log to copy")
    p.add_argument("--to", default=None, help="copy: postgresql://host:port/db (default: the profile's store.url)")
    p.set_defaults(func=cmd_store)
