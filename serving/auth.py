"""API keys with roles, for HTTP and gRPC alike.

Roles: `score` (reviews, batch, taxonomy), `feedback` (reviewer verdicts), `read` (stored
decisions, trends), `admin` (everything). Keys are stored as SHA-256 hashes (they are 256-bit
random tokens, so a fast hash is enough); the plain key is shown once, by `adrisk keys add`.
Health, readiness and metrics stay open. With no key configured, auth is off and only loopback
clients are served (binding HTTP elsewhere refuses to start; gRPC, which Ray binds on every
interface, refuses non-loopback peers).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from serving.config import AdriskConfig, resolve_project_path
from serving.errors import PermissionDenied, Unauthenticated

Role = Literal["score", "feedback", "read", "admin"]
ROLES: tuple[str, ...] = ("score", "feedback", "read", "admin")
KEY_PREFIX = "ak_"
_LOOPBACK_PEER = re.compile(r"^(ipv4:127\.|ipv6:\[::1\]|ipv6:\[::ffff:127\.|unix:)")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    roles: frozenset[str]


def _parse_env(value: str) -> list[ApiKey]:
    keys = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        try:
            name, roles, key = part.split(":", 2)
        except ValueError:
            raise ValueError("ADRISK_API_KEYS entries are name:role+role:key, separated by ';'") from None
        keys.append(ApiKey(name, hash_key(key), _roles(roles.split("+"), name)))
    return keys


def _roles(roles: list[str], name: str) -> frozenset[str]:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"key {name!r}: roles must be among {ROLES}, got {roles}")
    return frozenset(roles)


def read_keys_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    doc = yaml.safe_load(path.read_text()) or {}
    return list(doc.get("keys") or [])


def write_keys_file(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("# adrisk API keys (SHA-256 hashes; the keys themselves were shown once)\n"
                   + yaml.safe_dump({"keys": entries}, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


class KeyRing:
    def __init__(self, config: AdriskConfig, clock=time.monotonic) -> None:
        self.path = resolve_project_path(config.auth.keys_file)
        self.env_value = os.environ.get(config.auth.env, "")
        self.reload_s = config.auth.reload_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime: float | None = None
        self._by_hash: dict[str, ApiKey] = {}
        self._load()

    def _load(self) -> None:
        keys = _parse_env(self.env_value)
        for entry in read_keys_file(self.path):
            if not entry.get("revoked"):
                keys.append(ApiKey(entry["name"], entry["sha256"], _roles(list(entry["roles"]), entry["name"])))
        self._by_hash = {k.sha256: k for k in keys}
        self._mtime = self.path.stat().st_mtime if self.path.exists() else None

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self.reload_s:
            return
        with self._lock:
            self._checked = now
            mtime = self.path.stat().st_mtime if self.path.exists() else None
            if mtime != self._mtime:
                self._load()

    @property
    def enabled(self) -> bool:
        self._maybe_reload()
        return bool(self._by_hash)

    def check(self, presented: str | None, role: str, peer_is_loopback: bool) -> str:
        """The key's name, or raise. `presented` is the raw x-api-key / Bearer value."""
        if not self.enabled:
            if peer_is_loopback:
                return "anonymous"
            raise PermissionDenied("no API keys are configured: only loopback clients are served")
        if not presented:
            raise Unauthenticated("missing API key: send x-api-key (or Authorization: Bearer)")
        key = self._by_hash.get(hash_key(presented))
        if key is None:
            raise Unauthenticated("unknown or revoked API key")
        if role not in key.roles and "admin" not in key.roles:
            raise PermissionDenied(f"key {key.name!r} lacks the {role!r} role (has {sorted(key.roles)})")
        return key.name

    def authorize(self, headers: Iterable[tuple[str, str]], peer: str, role: str) -> str:
        """One check for both protocols: HTTP headers or gRPC metadata, and the caller's address."""
        return self.check(presented_key({k.lower(): v for k, v in headers}), role, is_loopback_peer(peer))


def presented_key(headers: dict[str, str]) -> str | None:
    """From x-api-key, or an Authorization: Bearer header (header names lower-cased)."""
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def is_loopback_host(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def is_loopback_peer(peer: str) -> bool:
    """A gRPC peer string (ipv4:127.0.0.1:5000) or an HTTP client host."""
    return bool(_LOOPBACK_PEER.match(peer)) or is_loopback_host(peer)
