"""API keys: where they come from and whether protected routes ask for one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from core.config.base import _Strict


class AuthConfig(_Strict):
    """API keys: hashed in `keys_file` (written by `adrisk keys add`) and/or given in plain text by
    the environment variable `env` (`name:role+role:key;...`, e.g. from a secrets manager), hashed
    at load.

    `mode: keys` (the default) always asks protected routes for a key: with none configured (none
    added yet, or the last one revoked) they answer 401 and the service logs a warning; auth never
    switches itself off. `mode: off` (or just `auth: off`) serves without keys, for development on
    this machine: loopback callers only, and serving HTTP on any other address refuses to start.
    Never use it behind a reverse proxy on the same host, where every client arrives from loopback.
    """

    mode: Literal["keys", "off"] = Field("keys", description="keys: every protected call needs a key; "
                                         "off: no keys, loopback callers only (local development)")
    keys_file: str = Field("var/api-keys.yaml", description="relative to the project root")
    env: str = Field("ADRISK_API_KEYS", description="environment variable with plain-text keys")
    reload_s: float = Field(5.0, gt=0, description="how often the keys file is checked for changes")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`auth: off` / `auth: keys` for `auth: {mode: ...}`. YAML reads a bare off/on as false/true."""
        if isinstance(value, dict):
            mode = value.get("mode")
            return {**value, "mode": {False: "off", True: "keys"}[mode]} if isinstance(mode, bool) else value
        if isinstance(value, bool):
            return {"mode": "keys" if value else "off"}
        if value in ("off", "keys"):
            return {"mode": value}
        raise ValueError(f"auth: expected `off`, `keys` or a mapping, got {value!r}")
