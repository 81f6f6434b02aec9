"""The one narrow interface every Ray-free engine implements (LitServe-style).

`setup()` loads weights once per replica (and warms them up); then one predict-like call does the
work. Batch engines (`ModelBackend`: image backends, the image engine, the text encoder, the head
scorer) take a whole batch in `predict()` and return one output per input, in order. An engine
that batches continuously inside itself (`AsyncModelBackend`: vLLM) takes one input per awaited
`predict()`, with many in flight at once. Engines never see HTTP, Ray or pydantic request models:
deployments adapt to them, and benchmarks and offline tools run them as they are.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Engine(ABC):
    """What every engine has: an identity (name@version) and a one-time setup()."""

    name: str
    version: str

    @abstractmethod
    def setup(self) -> None:
        """Load weights (and warm up). Called once, before any predict()."""

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"


class ModelBackend(Engine, Generic[In, Out]):
    @abstractmethod
    def predict(self, batch: Sequence[In]) -> list[Out]:
        """Run one batch; return exactly one output per input, in order."""


class AsyncModelBackend(Engine, Generic[In, Out]):
    @abstractmethod
    async def predict(self, item: In) -> Out:
        """One input; safe to await concurrently (the engine batches whatever is in flight)."""


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
        raise RuntimeError(f"device {device!r} requested but CUDA is not available (tests and development "
                           f"only: ADRISK_DEVICE_OVERRIDE=cpu runs a GPU profile on CPU, core/config/loading.py)")


def offline_if_local(source: str) -> None:
    """A local model directory must never trigger a hub request."""
    if os.path.exists(source):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
