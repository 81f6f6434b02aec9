"""Canary and shadow rollouts of a head set and a policy under live traffic, with promote and
rollback through `adrisk deploy`, and no failed request throughout."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from core.store import SQLiteDecisionStore
from models.registry import Registry, RegistryError, tree_sha256

TEXTS = ["Double your bitcoin in 24 hours, guaranteed", "Fresh sourdough bread delivered daily",
         "Lose 10 kg in a week with this one pill", "Handmade oak furniture, free delivery"]


def adrisk(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "commands.cli", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-2500:]
    return done.stdout


class Traffic:
    """Reviews in a loop from two threads; every answer's status and versions are kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.results: list[tuple[float, int, dict]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(2)]

    def _run(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            i = 0
            while not self.stop.is_set():
                body = {"request_id": f"roll-{k}-{uuid.uuid4().hex[:10]}", "creative": {"text": TEXTS[i % 4]}}
                response = client.post("/v1/review", json=body)
                versions = response.json().get("model_versions", {}) if response.status_code == 200 else {}
                with self.lock:
                    self.results.append((time.monotonic(), response.status_code, versions))
                i += 1

    def since(self, t: float) -> list[tuple[float, int, dict]]:
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def wait_for(self, predicate, timeout: float = 30.0, window: int = 12) -> list:
        """Wait until `window` answers after now all satisfy `predicate` on their version counts."""
        t0, deadline = time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            recent = self.since(t0)
            counts = collections.Counter(v.get("text_heads") for _, _, v in recent[-window:])
            if len(recent) >= window and predicate(counts):
                return recent
            time.sleep(0.2)
        raise AssertionError(f"rollout not observed; recent versions {[v for _, _, v in self.since(t0)][-5:]}")


@pytest.fixture(scope="module")
def candidate(service, tmp_path_factory):
    """Head set version 3, trained on a subset, registered in the service's local registry."""
    out = tmp_path_factory.mktemp("heads-v3")
    adrisk("train-heads", "--limit", "1500", "--version", "3", "--out", str(out))
    adrisk("registry", "register", "--component", "text_heads", "--version", "3", "--artifact", str(out),
           "--into", str(service.registry))
    return out


def deploy(service, *args: str) -> str:
    return adrisk("deploy", *args, "--store", str(service.store_path), "--registry", str(service.registry))


def test_canary_shadow_promote_and_rollback_under_traffic(service, candidate):
    traffic = Traffic(service.url)
    for t in traffic.threads:
        t.start()
    try:
        traffic.wait_for(lambda c: set(c) == {"text-heads-all-MiniLM-L6-v2@2"})
        deploy(service, "canary", "--component", "text_heads", "--version", "3", "--percent", "50")
        traffic.wait_for(lambda c: len(c) == 2, window=16)  # both arms serving

        deploy(service, "rollback", "--component", "text_heads")
        traffic.wait_for(lambda c: set(c) == {"text-heads-all-MiniLM-L6-v2@2"})

        t_shadow = time.time()
        deploy(service, "shadow", "--component", "text_heads", "--version", "3")
        deploy(service, "shadow", "--component", "policy", "--version", "1")
        time.sleep(2.0)  # traffic flows; nothing visible changes in the answers
        assert {v.get("text_heads") for _, _, v in traffic.since(time.monotonic() - 1.5)} == {
            "text-heads-all-MiniLM-L6-v2@2"}

        deploy(service, "promote", "--component", "text_heads")
        traffic.wait_for(lambda c: set(c) == {"text-heads-all-MiniLM-L6-v2@3"})
        assert "stable 3 (rollback restores 2)" in deploy(service, "status")
        deploy(service, "rollback", "--component", "policy")
        # A promote is undone too: rollback restores the heads that were stable before it (the
        # shipped 2, which the rest of the suite expects).
        deploy(service, "rollback", "--component", "text_heads")
        traffic.wait_for(lambda c: set(c) == {"text-heads-all-MiniLM-L6-v2@2"})
    finally:
        traffic.stop.set()
        for t in traffic.threads:
            t.join(timeout=60)
    statuses = collections.Counter(status for _, status, _ in traffic.results)
    assert set(statuses) == {200}, f"failed requests during the rollout: {statuses}"
    assert len(traffic.results) > 40

    store = SQLiteDecisionStore(service.store_path)
    shadowed = [d for d in store.decisions(since=t_shadow) if d.inputs.get("shadow", {}).get("text_heads")]
    assert shadowed and all(d.inputs["shadow"]["text_heads"]["version"].endswith("@3") for d in shadowed)
    assert all(d.response["model_versions"]["text_heads"].endswith("@2") for d in shadowed)  # never acted on
    history = [h["state"] for h in store.rollout_history("text_heads")]
    assert [h.get("mode") for h in history] == ["canary", None, "shadow", None, None]
    assert [(h["stable"], h["previous"]) for h in history[-2:]] == [("3", ["2"]), ("2", [])]


def test_the_comparison_report_and_status(service, candidate):
    # The previous test's shadow of text_heads (stable 2 vs candidate 3) is in the log.
    store = SQLiteDecisionStore(service.store_path)
    starts = [h for h in store.rollout_history("text_heads") if h["state"].get("mode") == "shadow"]
    from commands.rollout_cli import report

    shadow = report(store, "text_heads", since=starts[0]["created_at"])["shadow"]
    assert shadow["n"] > 0 and 0 <= shadow["agreement"] <= 1
    assert shadow["latency_ms_p50"]["stable"] > 0 and shadow["latency_ms_p50"]["candidate"] > 0
    assert shadow["max_abs_score_delta"] > 0  # a different head set scores differently
    policy = json.loads(deploy(service, "report", "--component", "policy"))
    assert policy["shadow"]["n"] > 0
    assert "stable 2" in deploy(service, "status")


def test_unregistered_or_tampered_versions_cannot_roll_out(service, candidate, tmp_path):
    done = subprocess.run([sys.executable, "-m", "commands.cli", "deploy", "canary", "--component", "text_heads",
                           "--version", "9", "--store", str(service.store_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "no text_heads version '9'" in done.stderr
    registry = Registry([service.registry])
    manifest = registry.get("text_heads", "3")
    assert manifest.sha256 == tree_sha256(candidate)
    (candidate / "manifest.json").write_text((candidate / "manifest.json").read_text() + " ")
    with pytest.raises(RegistryError, match="does not match its manifest"):
        registry.verify(manifest)


@pytest.mark.slow  # a child interpreter per case: the adrisk CLI's error path
@pytest.mark.parametrize("percent", ["150", "0", "ten"])
def test_a_bad_canary_share_is_one_clear_line(percent):
    done = subprocess.run([sys.executable, "-m", "commands.cli", "deploy", "canary", "--component", "text_heads",
                           "--version", "3", "--percent", percent], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument --percent:" in done.stderr.splitlines()[-1]


@pytest.mark.slow  # a child interpreter per case: the adrisk CLI's error path
@pytest.mark.parametrize(("args", "needle"), [
    (["canary", "--component", "text_heads"], "--version is required"),
    (["canary", "--version", "9"], "no text_heads version '9'"),
    (["promote"], "no candidate to promote"),
    (["rollback", "--component", "policy"], "nothing to roll back"),
    (["status", "--profile", "no-such-profile"], "config file not found"),
    (["status", "--store", "{not_a_database}"], "file is not a database"),
])
def test_bad_deploy_arguments_get_one_clear_line(tmp_path, args, needle):
    not_a_database = tmp_path / "text.sqlite3"
    not_a_database.write_text("plain text, not SQLite\n" * 100)
    args = [a.format(not_a_database=not_a_database) for a in args]
    if "--store" not in args:
        args += ["--store", str(tmp_path / "decisions.sqlite3")]
    done = subprocess.run([sys.executable, "-m", "commands.cli", "deploy", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and needle in done.stderr, done.stderr


def test_rollback_walks_back_through_promotes_and_drops_candidates(tmp_path):
    """The state machine on a real store and the shipped registry: every step can be undone."""
    from commands.rollout_cli import apply
    from core.config import load_config
    from serving.rollout import default_versions

    config = load_config("cpu")
    store = SQLiteDecisionStore(tmp_path / "d.sqlite3")
    registry, defaults = Registry.from_config(config), default_versions(config)

    def step(action: str, version: str | None = None, percent: int = 10):
        return apply(store, registry, defaults, action, "policy", version, percent, actor="test")

    assert step("canary", "1", 30).model_dump() == {"stable": "2", "candidate": "1", "mode": "canary",
                                                    "percent": 30, "previous": []}
    assert step("promote").model_dump() == {"stable": "1", "candidate": None, "mode": None, "percent": 0,
                                            "previous": ["2"]}
    assert step("shadow", "2").previous == ["2"]
    assert step("rollback").model_dump() == {"stable": "1", "candidate": None, "mode": None, "percent": 0,
                                             "previous": ["2"]}  # the shadow dropped, the promote kept
    assert step("canary", "2", 100).stable == "1"
    assert step("promote").model_dump() == {"stable": "2", "candidate": None, "mode": None, "percent": 0,
                                            "previous": ["2", "1"]}
    assert step("rollback").model_dump() == {"stable": "1", "candidate": None, "mode": None, "percent": 0,
                                             "previous": ["2"]}  # undoes the second promote
    assert step("rollback").model_dump() == {"stable": "2", "candidate": None, "mode": None, "percent": 0,
                                             "previous": []}  # and then the first
    with pytest.raises(SystemExit, match="nothing to roll back"):
        step("rollback")
