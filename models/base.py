"""The one narrow interface every model backend implements (LitServe-style).

`setup()` loads weights once per replica; `predict()` takes a whole batch and returns one output
per input, in order. Backends never see HTTP, Ray or pydantic: deployments adapt to them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class ModelBackend(ABC, Generic[In, Out]):
    name: str
    version: str

    @abstractmethod
    def setup(self) -> None:
        """Load weights. Called once, before any predict()."""

    @abstractmethod
    def predict(self, batch: Sequence[In]) -> list[Out]:
        """Run one batch; return exactly one output per input, in order."""

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"


def configure_torch(threads: int | None, device: str) -> None:
    """Pin intra-op threads (replicas share the machine's cores) and check the device."""
    import torch

    if threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set once in this process
            pass
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")


def offline_if_local(source: str) -> None:
    """A local model directory must never trigger a hub request."""
    if os.path.exists(source):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
