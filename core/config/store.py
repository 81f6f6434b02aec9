"""Where state lives: the decision store (SQLite file or PostgreSQL URL, never with credentials) and the
model registry's manifest directories."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.config.base import _Strict

_URL_CREDENTIALS = ("password", "user", "sslpassword", "passfile")
STORE_URL_ENV = "ADRISK_STORE_URL"  # the store's URL from the environment (load_config)


class StoreConfig(_Strict):
    """Where decisions, verdicts, the known-bad bank and rollout state live.

    `path` (the default): an embedded SQLite file, for one machine. `url: postgresql://host:port/db`:
    a shared PostgreSQL (core/store_postgres.py) for replicas on many nodes; `path` is then
    unused. Credentials never come from the config: the URL may not hold a password or a user
    (refused at load); libpq reads PGUSER, PGPASSWORD, PGPASSFILE or ~/.pgpass from the
    environment, and a password file (`password_file`, or the path in ADRISK_STORE_PASSWORD_FILE,
    which wins) holding just the password, e.g. a mounted Kubernetes Secret, overrides those.
    The URL itself may come from the environment too: ADRISK_STORE_URL (a Kubernetes Secret's key)
    replaces the profile's `store.url` in `load_config`, validated by the same rules."""

    path: str = Field("var/decisions.sqlite3", description="SQLite file, relative to the project root")
    url: str | None = Field(None, description="postgresql://host[:port]/database (no credentials)")
    password_file: str | None = Field(None, description="file holding only the PostgreSQL password")
    pool_size: int = Field(8, ge=1, description="PostgreSQL connections one process keeps at most")
    connect_timeout_s: float = Field(10.0, gt=0, description="opening the pool fails after this long")
    retry_s: float = Field(5.0, ge=0, description="idempotent calls retry a lost connection for this long")

    @model_validator(mode="after")
    def _url_is_postgres_without_credentials(self) -> StoreConfig:
        if self.url is None:
            return self
        from urllib.parse import parse_qs, urlsplit

        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - parsing the port raises on a bad one
        except ValueError as exc:
            raise ValueError(f"store.url: {exc}") from None
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"store.url must start with postgresql:// (got {parts.scheme or 'no'} scheme)")
        if parts.username is not None or parts.password is not None:
            raise ValueError("store.url must not hold credentials: the user comes from PGUSER, the password "
                             "from PGPASSWORD, ~/.pgpass or store.password_file / ADRISK_STORE_PASSWORD_FILE")
        given = sorted(set(parse_qs(parts.query)) & set(_URL_CREDENTIALS))
        if given:
            raise ValueError(f"store.url must not hold credentials ({', '.join(given)}): use the environment")
        if not parts.path.strip("/"):
            raise ValueError("store.url must name a database: postgresql://host:port/DATABASE")
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        return "postgres" if self.url else "sqlite"


class RegistryConfig(_Strict):
    dirs: list[str] = Field(
        default_factory=lambda: ["configs/registry", "var/registry"],
        description="manifest directories: the shipped one, then a local one for versions trained here",
    )
    rollout_poll_s: float = Field(1.0, gt=0, description="how often ingresses re-read the rollout state")
