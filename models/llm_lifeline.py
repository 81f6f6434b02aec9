"""The vLLM engine process's lifeline to the replica that started it.

vLLM runs its EngineCore in a child process of the LlmDiagnoser replica (multiprocessing, spawn:
Ray actors can only spawn) and, on CPU, the model Worker in a child of that. vLLM stops both when
the replica shuts the engine down, and the Worker follows a dying EngineCore by itself (vLLM's
death pipe). Nothing stopped the EngineCore when the replica died *without* shutting it down:
`ray stop --force` and a dead raylet SIGKILL the replica, and the engine lived on as an orphan
(~3.5 GB, busy on the CPU).

A spawned child holds the read end of a pipe whose only write end is in its parent
(`multiprocessing.parent_process().sentinel`); the kernel closes that end when the parent exits,
however it exits, so the read end reports end-of-file. The executors here are vLLM's own (the one
the platform would pick) plus a thread in the EngineCore that waits on that pipe, then stops the
engine the way vLLM stops it on SIGTERM (abort requests, shut the workers down, exit) and, should
that not finish within `GRACE_S`, kills the workers and exits.

Not PR_SET_PDEATHSIG: the kernel sends that signal when the *thread* that started the child
exits, not the process, and the replica starts the engine from whichever thread runs its
constructor; a healthy engine could be stopped under a live replica.

`models.llm_engine.VllmEngine` passes `executor_qualname()` to vLLM as its
`distributed_executor_backend`; vLLM pickles the class by name into the EngineCore, which imports
this module there (the project is on every Ray worker's PYTHONPATH).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time

from vllm.v1.executor.multiproc_executor import MultiprocExecutor
from vllm.v1.executor.uniproc_executor import UniProcExecutor

log = logging.getLogger("vllm.adrisk.lifeline")

GRACE_S = 10.0  # vLLM's own shutdown first; past this, workers are killed and the process exits


def watch_parent(executor: object) -> threading.Thread | None:
    """In a spawned process: a daemon thread that stops this process once its parent is gone.
    None where this process was not started by multiprocessing (the engine runs in-process)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return None
    parent_pid = parent.pid

    def wait_then_stop() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # returns only at end-of-file: parent gone
        log.warning("adrisk lifeline: parent process %s is gone; stopping the vLLM engine (pid %s)",
                    parent_pid, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)  # vLLM's EngineCore handler: abort, shut workers down, exit
        time.sleep(GRACE_S)
        for worker in getattr(executor, "workers", None) or []:
            proc = getattr(worker, "proc", None)
            if proc is not None and proc.is_alive():
                proc.kill()
        log.warning("adrisk lifeline: engine still up %.0f s after its parent died; exiting", GRACE_S)
        os._exit(1)

    thread = threading.Thread(target=wait_then_stop, name="adrisk-lifeline", daemon=True)
    thread.start()
    return thread


class LifelineMultiprocExecutor(MultiprocExecutor):
    """vLLM's multiprocess executor (what the CPU platform uses) with the EngineCore's lifeline."""

    def _init_executor(self) -> None:
        watch_parent(self)
        super()._init_executor()


class LifelineUniProcExecutor(UniProcExecutor):
    """vLLM's in-process executor (a single GPU) with the EngineCore's lifeline."""

    def _init_executor(self) -> None:
        watch_parent(self)
        super()._init_executor()


def executor_qualname() -> str:
    """The lifeline executor for the platform: CPU runs its worker in a separate process (vLLM
    turns "uni" into "mp" there), a single GPU runs it inside the EngineCore."""
    from vllm.platforms import current_platform

    cls = LifelineMultiprocExecutor if current_platform.is_cpu() else LifelineUniProcExecutor
    return f"{cls.__module__}.{cls.__qualname__}"
