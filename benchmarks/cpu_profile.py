"""Where a process spends its CPU: py-spy samples bucketed by the layer that does the work.

py-spy records only threads that are running (not waiting in epoll or on a lock), so
samples ÷ (rate × seconds) is the number of cores the process keeps busy, and each stack is
charged to the innermost frame that belongs to a named layer. Generic plumbing (threading,
contextlib, functools) is skipped so its caller gets the sample.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# First match wins, innermost frame first; each pattern is a prefix of py-spy's short filename.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/", "ray/_common/formatters.py", "ray/serve/_private/logging_utils.py",
                 "ray/_private/log", "json/encoder.py")),
    ("model compute (torch, tokenizers, heads)", ("torch/", "transformers/", "sentence_transformers/", "tokenizers/",
                                                 "numpy/", "sklearn/", "onnxruntime/", "models/")),
    ("decision store (SQLite)", ("core/store.py", "sqlite3/", "serving/decision_log.py")),
    ("adrisk pipeline (validation, fusion, policy)", ("serving/", "policy/", "deployments/", "multimodal/")),
    ("pydantic (request/response models)", ("pydantic/", "pydantic_core/")),
    ("(de)serialization (pickle, msgpack, protobuf, JSON)", ("pickle", "ray/cloudpickle/", "msgpack/", "copyreg",
                                                            "ray/_private/serialization.py", "google/protobuf/",
                                                            "json/", "orjson")),
    ("HTTP server + ASGI (uvicorn, starlette, FastAPI)", ("uvicorn/", "h11/", "httptools/", "starlette/",
                                                         "fastapi/", "anyio/")),
    ("gRPC server/channel", ("grpc/", "src/python/grpcio/")),  # the second: Cython frames of grpcio
    ("Serve routing (handles, router, replica choice)", ("ray/serve/handle.py", "ray/serve/_private/router.py",
                                                         "ray/serve/_private/request_router/",
                                                         "ray/serve/_private/replica_result.py")),
    ("Serve proxy/replica wrapper (metrics, tracing, bookkeeping)", ("ray/serve/", "ray/util/metrics.py",
                                                                    "ray/util/tracing/", "prometheus_client/")),
    ("Ray core (actor calls, object refs)", ("ray/", "python/ray/")),  # python/ray/_raylet.pyx
    ("asyncio event loop", ("asyncio/", "uvloop/", "selectors.py", "concurrent/futures/")),
)
PASS_THROUGH = ("threading.py", "contextlib.py", "functools.py", "typing.py", "abc.py", "enum.py", "<string>",
                "inspect.py", "copy.py", "dataclasses.py", "weakref.py", "_weakrefset.py", "queue.py")
OTHER = "other"


@dataclass
class Profile:
    """CPU of one process by layer, in cores (1.0 = one core busy for the whole window)."""

    title: str
    cores: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.cores.values())


def layer_of(stack: list[str]) -> str:
    """The layer of the innermost frame that has one; frames are 'func (path:line)', outermost first."""
    for frame in reversed(stack):
        path = frame.rsplit("(", 1)[-1].split(":", 1)[0]
        if path.startswith(PASS_THROUGH):
            continue
        for layer, prefixes in LAYERS:
            if path.startswith(prefixes):
                return layer
    return OTHER


def bucket(raw: str) -> Counter[str]:
    """Samples per layer from py-spy's `--format raw` output (one 'f1;f2;… count' line per stack)."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[layer_of(stack.split(";"))] += int(count)
    return counts


def pyspy() -> str | None:
    """py-spy on PATH, or beside this interpreter (the project's venv when run as .venv/bin/python)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def available() -> bool:
    return pyspy() is not None


def record(pids: dict[str, int], seconds: float, rate: int = 50, gil: bool = False) -> list[Profile]:
    """Sample every pid at once for `seconds`; one Profile per title. `gil`: only the GIL holder."""
    exe = pyspy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (ray[serve] brings it)")
    out_dir = Path(tempfile.mkdtemp(prefix="adrisk-pyspy-"))
    running = {}
    try:
        for title, pid in pids.items():
            out = out_dir / f"{pid}.txt"
            cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(int(seconds)),
                   "--format", "raw", "--nonblocking", "--output", str(out), *(["--gil"] if gil else [])]
            running[title] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out)
        profiles = []
        for title, (proc, out) in running.items():
            _, err = proc.communicate(timeout=seconds + 60)
            if proc.returncode != 0 or not out.exists():
                raise RuntimeError(f"py-spy failed on {title}: {err.decode(errors='replace')[-300:]}")
            counts = bucket(out.read_text())
            profiles.append(Profile(title, {k: v / (rate * int(seconds)) for k, v in counts.items()}))
        return profiles
    finally:
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(out_dir, ignore_errors=True)
