"""The Ray Serve process environment of configs/serve/ray_env.yaml, validated and applied."""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from core.config import CONFIG_DIR

RAY_ENV_FILE = CONFIG_DIR / "serve" / "ray_env.yaml"
OFF_SWITCH = "ADRISK_RAY_ENV"  # "off": leave Ray Serve's own defaults (benchmarks.hops compares them)
Where = Literal["cluster", "local"]


class RayEnv(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cluster: dict[str, str]
    local: dict[str, str]

    @field_validator("cluster", "local")
    @classmethod
    def only_ray_variables(cls, env: dict[str, str]) -> dict[str, str]:
        strange = [k for k in env if not k.startswith("RAY_")]
        if strange:
            raise ValueError(f"not a Ray variable: {strange}")
        return env


@cache
def load_ray_env() -> RayEnv:
    return RayEnv.model_validate(yaml.safe_load(RAY_ENV_FILE.read_text()))


def apply_ray_env(where: Where = "local") -> dict[str, str]:
    """Set the variables this process's Ray will pass to every worker; returns what is in effect."""
    if os.environ.get(OFF_SWITCH) == "off":
        return {}
    env = getattr(load_ray_env(), where)
    for key, value in env.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in env}
