"""What every config section shares: where the project and its configs/ live, and the strict base model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

# This file is core/config/base.py: the project root is two directories up (core/config/ → core/ → root).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
