"""Fast tier for summaries that never hold up a decision: deadlines that nest (checked at load),
the write-back onto the one decision it explains, stale pending diagnoses, the bounded backlog."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from commands.launcher import read_serve_config
from core.config import check_proxy_timeouts, load_config
from core.store import StoredDecision
from serving.background import BackgroundTasks
from serving.decision_log import SUMMARY_GRACE_S, decision_record, settled_response

CPU = load_config("cpu")


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_shipped_profiles_nest_their_deadlines_inside_the_proxy_timeouts(profile):
    config = load_config(profile)
    check_proxy_timeouts(config, read_serve_config(None, profile))
    assert config.stage_timeout_s < config.request_timeout_s
    assert config.llm is not None and config.llm.deadline_s < config.request_timeout_s


def test_deadlines_that_cannot_fire_are_refused_at_load():
    with pytest.raises(ValidationError, match=r"llm.deadline_s \(60\) must be below request_timeout_s \(55\)"):
        load_config("cpu", {"llm": {**CPU.llm.model_dump(), "deadline_s": 60}})
    with pytest.raises(ValidationError, match="stage_timeout_s"):
        load_config("cpu", {"stage_timeout_s": 55})
    with pytest.raises(ValueError, match=r"below the Serve config's http_options.request_timeout_s \(50\)"):
        check_proxy_timeouts(CPU, {"http_options": {"request_timeout_s": 50}})
    with pytest.raises(ValueError, match="grpc_options"):
        check_proxy_timeouts(CPU, {"grpc_options": {"request_timeout_s": 55}})


def _pending(rid: str, at: float) -> StoredDecision:
    response = {"request_id": rid, "summary_status": "pending", "diagnosis": None,
                "model_versions": {"llm": "m@1"}, "decision": {"action": "reject"}}
    return StoredDecision(rid, f"digest-{rid}", response, "reject", "default@2", at)


def test_a_diagnosis_lands_only_on_the_decision_it_explains(store):
    store.put(_pending("r1", 100.0))
    diagnosis = {"violations": [], "summary": "s", "confidence": 0.5}
    assert store.attach_summary("r1", 100.0, "ok", diagnosis, {"llm_prompt": "prompt-1"})
    stored = store.get("r1")
    assert stored is not None and stored.response["summary_status"] == "ok"
    assert stored.response["diagnosis"] == diagnosis
    assert stored.response["model_versions"] == {"llm": "m@1", "llm_prompt": "prompt-1"}
    # Rescored in the meantime (a new created_at): the late diagnosis is dropped, not misfiled.
    store.put(_pending("r1", 200.0))
    assert not store.attach_summary("r1", 100.0, "ok", diagnosis, {})
    assert store.get("r1").response["summary_status"] == "pending"
    assert not store.attach_summary("missing", 100.0, "ok", None, {})


def test_a_pending_diagnosis_that_can_no_longer_arrive_reads_as_unavailable(store):
    store.put(_pending("r1", 1000.0))
    limit = 1000.0 + CPU.llm.deadline_s + SUMMARY_GRACE_S
    assert decision_record(store, CPU, "r1", limit).response["summary_status"] == "pending"
    assert decision_record(store, CPU, "r1", limit + 1).response["summary_status"] == "unavailable"
    assert store.get("r1").response["summary_status"] == "pending"  # reads never rewrite the log
    done = {"summary_status": "ok"}
    assert settled_response(done, 0.0, CPU, 1e9) is done


def test_the_backlog_is_bounded_and_every_task_is_held_until_it_ends():
    async def scenario() -> tuple[list[bool], int, int]:
        tasks = BackgroundTasks(limit=2)
        gate = asyncio.Event()
        ran: list[int] = []

        async def work(i: int) -> None:
            await gate.wait()
            ran.append(i)

        accepted = [tasks.submit(work(i), name=f"w{i}") for i in range(3)]
        full = tasks.pending
        gate.set()
        left = await tasks.drain(timeout_s=5)
        assert sorted(ran) == [0, 1]  # the refused one never ran (closed, no "never awaited" warning)
        return accepted, full, left

    accepted, full, left = asyncio.run(scenario())
    assert accepted == [True, True, False] and full == 2 and left == 0
