"""`adrisk keys`: add, list or revoke API keys in the profile's keys file (hashes only).

    adrisk keys add --name review-pipeline --roles score   # prints the key once; stores its SHA-256
    adrisk keys list
    adrisk keys revoke --name review-pipeline              # replicas stop accepting it within reload_s

Revoking the last key does not turn auth off: protected calls then get 401 (serving/auth.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from commands.cli_errors import one_line_errors
from core.config import load_config, resolve_project_path
from serving.auth import ROLES, hash_key, new_key, read_keys_file, write_keys_file


@one_line_errors("keys")
def cmd_keys(args: argparse.Namespace) -> int:
    config = load_config(args.profile)
    path = Path(args.file) if args.file else resolve_project_path(config.auth.keys_file)
    entries = read_keys_file(path)
    if args.action == "list":
        for e in entries:
            state = "revoked" if e.get("revoked") else "active"
            print(f"{e['name']:<24} {'+'.join(e['roles']):<24} {state:<8} created {e.get('created', '?')}")
        return 0
    if not args.name:
        raise SystemExit(f"adrisk keys {args.action}: --name is required")
    if args.action == "revoke":
        hits = [e for e in entries if e["name"] == args.name and not e.get("revoked")]
        if not hits:
            raise SystemExit(f"adrisk keys revoke: no active key named {args.name!r} in {path}")
        for e in hits:
            e["revoked"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_keys_file(path, entries)
        left = sum(not e.get("revoked") for e in entries)
        print(f"revoked {args.name} (replicas pick the change up within {config.auth.reload_s:g} s)"
              + ("" if left else "; no active key is left in this file: protected calls get 401 until one "
                 "is added"))
        return 0
    roles = [r for r in (args.roles or "").split(",") if r]
    if not roles or set(roles) - set(ROLES):
        raise SystemExit(f"adrisk keys add: --roles takes a comma-separated list among {', '.join(ROLES)}")
    if any(e["name"] == args.name and not e.get("revoked") for e in entries):
        raise SystemExit(f"adrisk keys add: an active key named {args.name!r} exists; revoke it first")
    key = new_key()
    entries.append({"name": args.name, "roles": roles, "sha256": hash_key(key),
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    write_keys_file(path, entries)
    print(key)
    print(f"(shown once; stored hashed in {path})", file=sys.stderr)
    if config.auth.mode == "off":
        print(f"note: the {args.profile} profile sets `auth: off`; keys take effect when auth is on "
              "(`adrisk serve --auth keys`)", file=sys.stderr)
    return 0


def add_keys_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="add, list or revoke API keys (hashed in the profile's keys file)")
    keys.add_argument("action", choices=["add", "list", "revoke"])
    keys.add_argument("--name", default=None)
    keys.add_argument("--roles", default=None, help="comma-separated: score, feedback, read, admin")
    keys.add_argument("--profile", default="cpu")
    keys.add_argument("--file", default=None, help="keys file (default: the profile's auth.keys_file)")
    keys.set_defaults(func=cmd_keys)
