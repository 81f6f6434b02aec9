"""Work that runs after its caller was answered (a review's `auto` diagnosis), bounded and referenced.

asyncio keeps only weak references to tasks, so a fire-and-forget task can vanish mid-flight; this
set holds each one until it ends. The bound keeps a burst of rejects from queueing unbounded LLM
work behind the decisions: past it, `submit` refuses and the caller reports the work as shed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("ray.serve")


class BackgroundTasks:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def has_room(self) -> bool:
        return len(self._tasks) < self.limit

    def submit(self, work: Coroutine[Any, Any, Any], name: str) -> bool:
        """Start `work` unless `limit` tasks are already running (then it is closed, never run)."""
        if not self.has_room():
            work.close()
            return False
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed: %r", task.get_name(), task.exception())

    async def drain(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for the running tasks; returns how many are still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        return len(self._tasks)
