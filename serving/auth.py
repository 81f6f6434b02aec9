"""API keys with roles, for HTTP and gRPC alike.

Roles: `score` (reviews, batch, taxonomy), `feedback` (reviewer verdicts), `read` (stored
decisions, trends), `admin` (everything). Keys are stored as SHA-256 hashes (they are 256-bit
random tokens, so a fast hash is enough); the plain key is shown once, by `adrisk keys add`.
Health, readiness and metrics stay open.

Auth is on unless the profile says `auth: off`, and it never switches itself off: with no key
configured (none added yet, or the last one revoked) every protected call is refused with 401 /
UNAUTHENTICATED and the replica logs a warning. `auth: off` is for development on this machine:
only loopback callers are served (HTTP clients and gRPC peers alike; Ray binds gRPC on every
interface) and binding HTTP to another address refuses to start (`check_bind`). Behind a reverse
proxy on the same host every client is loopback, so `off` must never be used there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.config import AdriskConfig, load_config, resolve_project_path
from core.errors import PermissionDenied, Unauthenticated
from serving.http_limits import validation_error

log = logging.getLogger("ray.serve")

Role = Literal["score", "feedback", "read", "admin"]
ROLES: tuple[str, ...] = ("score", "feedback", "read", "admin")
KEY_PREFIX = "ak_"


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


class KeyEntry(BaseModel):
    """One key in the keys file, as `adrisk keys` writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")
    created: str | dt.datetime | None = None
    revoked: str | dt.datetime | bool | None = Field(
        None, description="when (or just true); absent or false while the key is active")


class KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry] = Field(default_factory=list)


def read_keys_file(path: Path) -> list[dict[str, Any]]:
    """The entries of a keys file (none if it does not exist), validated: ValueError names the
    file and what is wrong with it."""
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text())
        entries = KeysFile.model_validate(doc if doc is not None else {}).keys
    except yaml.YAMLError as exc:
        raise ValueError(f"keys file {path} is not YAML: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        raise ValueError(f"keys file {path}: {validation_error(exc.errors()).detail}") from None
    return [e.model_dump(exclude_none=True) for e in entries]


def active_keys(path: Path, env_value: str) -> list[ApiKey]:
    """The keys in force: the environment's, then the file's that are not revoked."""
    keys = _parse_env(env_value)
    keys += [ApiKey(e["name"], e["sha256"], frozenset(e["roles"])) for e in read_keys_file(path)
             if not e.get("revoked")]
    return keys


def write_keys_file(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("# adrisk API keys (SHA-256 hashes; the keys themselves were shown once)\n"
                   + yaml.safe_dump({"keys": entries}, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


class KeyRing:
    """The keys in force for one replica: the environment's and the keys file's (re-read when it
    changes, checked at most every `reload_s`)."""

    def __init__(self, config: AdriskConfig, clock=time.monotonic) -> None:
        self.mode = config.auth.mode
        self.path = resolve_project_path(config.auth.keys_file)
        self.env_name = config.auth.env
        self.env_value = os.environ.get(config.auth.env, "")
        self.reload_s = config.auth.reload_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime: float | None = None
        self._by_hash: dict[str, ApiKey] = {}
        if self.mode == "keys":
            self._load()

    def _load(self, reloading: bool = False) -> None:
        had_keys = bool(self._by_hash) or not reloading
        self._mtime = self.path.stat().st_mtime if self.path.exists() else None
        try:
            keys = active_keys(self.path, self.env_value)
        except ValueError as exc:
            if not reloading:
                raise  # at start-up a bad keys file stops the replica with the reason
            # Fail closed: a broken file must not keep a key alive that its author meant to revoke.
            log.error("%s; serving only the keys from $%s until the file is fixed", exc, self.env_name)
            keys = _parse_env(self.env_value)
        self._by_hash = {k.sha256: k for k in keys}
        if had_keys and not self._by_hash:
            log.warning("auth is on and no API key is configured (%s, $%s): every protected request is refused "
                        "with 401 until one is added with `adrisk keys add` (auth: off is for loopback "
                        "development only)", self.path, self.env_name)

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self.reload_s:
            return
        with self._lock:
            self._checked = now
            mtime = self.path.stat().st_mtime if self.path.exists() else None
            if mtime != self._mtime:
                self._load(reloading=True)

    def check(self, presented: str | None, role: str, peer_is_loopback: bool) -> str:
        """The key's name ('anonymous' with auth off), or raise. `presented` is the raw x-api-key /
        Bearer value."""
        if self.mode == "off":
            if peer_is_loopback:
                return "anonymous"
            raise PermissionDenied("auth is off on this service (loopback development only): "
                                   "only loopback clients are served")
        self._maybe_reload()
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


def auth_override(profile: str, mode: str) -> dict[str, Any]:
    """The profile's auth section with `mode` replaced: the override `adrisk serve --auth` passes on."""
    return load_config(profile).auth.model_copy(update={"mode": mode}).model_dump()


def check_bind(host: str, config: AdriskConfig) -> str | None:
    """Before serving HTTP on `host`: refuse `auth: off` beyond loopback (SystemExit); with auth on
    and no key yet, a warning to print (the service starts and refuses every protected call)."""
    if config.auth.mode == "off":
        if not is_loopback_host(host):
            raise SystemExit(
                f"refusing to serve on {host}: the profile sets `auth: off`, which is for development on this "
                "machine only (loopback callers). Turn auth on (`adrisk serve --auth keys`, or `auth: keys` in "
                "the profile) and add a key with `adrisk keys add --name NAME --roles score`; never use "
                "`auth: off` behind a reverse proxy.")
        return None
    if not active_keys(resolve_project_path(config.auth.keys_file), os.environ.get(config.auth.env, "")):
        return ("warning: auth is on and no API key is configured: every call but /healthz, /readyz and "
                "/metrics gets 401 until you add one (`adrisk keys add --name NAME --roles score`, or "
                f"${config.auth.env})")
    return None


def presented_key(headers: dict[str, str]) -> str | None:
    """From x-api-key, or an Authorization: Bearer header (header names lower-cased)."""
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address: 127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def is_loopback_peer(peer: str) -> bool:
    """A gRPC peer (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`, which newer gRPC percent-encodes as
    `ipv6:%5B::1%5D:5000`, or a `unix:` socket) or an HTTP client host."""
    scheme, sep, rest = unquote(peer).partition(":")
    if sep and scheme in ("unix", "unix-abstract"):
        return True
    if sep and scheme in ("ipv4", "ipv6"):
        return is_loopback_host(rest.rpartition(":")[0])
    return is_loopback_host(peer)
