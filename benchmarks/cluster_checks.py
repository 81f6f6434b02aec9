"""The four cluster-wide behaviours, each checked over HTTP through an ingress on node A and one on
node B that share one PostgreSQL decision store (run by benchmarks/cluster_state.py).

(a) one decision per request_id across nodes; (b) a verdict given through one node is what the
other serves; (c) a canary started from the CLI reaches both nodes within the rollout poll
interval; (d) an advertiser's rejections through one node count as prior violations on the other.
Each check returns a `CheckResult` with the evidence (ids, actions, timings) for the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.local_cluster import RayNode
from core.config import StoreConfig
from core.store import DecisionStore

SCAM = "Double your bitcoin in 24 hours! Send 1 BTC to our wallet and get 2 BTC back, guaranteed."
PLAIN = ["Fresh sourdough bread delivered daily", "Handmade oak furniture, free delivery",
         "Summer collection: linen shirts and sandals", "Guitar lessons for beginners, first one free"]
CLOCK_SLACK_S = 0.2  # the store's commit follows the rollout's created_at by a few ms; threads start late


@dataclass(frozen=True)
class CheckResult:
    key: str  # "a".."d"
    title: str
    passed: bool
    evidence: list[str]


@dataclass
class Door:
    """One ingress: its route prefix on the proxy, and the node its only replica runs on."""

    label: str  # "A" or "B"
    client: httpx.Client
    node: RayNode
    app: str
    route_prefix: str

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        started = time.perf_counter()
        response = self.client.post(path, json=body)
        try:
            doc = response.json()
        except ValueError:  # a proxy's plain-text error
            doc = {"error": response.text[:200]}
        return response.status_code, doc, (time.perf_counter() - started) * 1000

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()


@dataclass(frozen=True)
class AdriskCli:
    """The real `adrisk` command, run as a subprocess against the shared store."""

    store: StoreConfig

    def run(self, *args: str) -> str:
        exe = Path(sys.executable).with_name("adrisk")
        env = {**os.environ, "ADRISK_STORE_PASSWORD_FILE": str(self.store.password_file)}
        done = subprocess.run([str(exe), *args, "--store", str(self.store.url)], env=env, capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"adrisk {' '.join(args)} failed ({done.returncode}): {done.stderr[-1500:]}")
        return done.stdout.strip()


def rows_for(store: StoreConfig, request_id: str) -> int:
    """Rows the decisions table holds for this id (read straight from PostgreSQL)."""
    from core.pg_connection import connect

    with connect(store) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM decisions WHERE request_id = %s",
                                (request_id,)).fetchone()[0])


def _rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _same_decision(x: dict[str, Any], y: dict[str, Any]) -> bool:
    return "decision" in x and x.get("decision") == y.get("decision") and x.get("scores") == y.get("scores")


# ---------------------------------------------------------------------------------------- (a)
def check_idempotency(a: Door, b: Door, store: StoreConfig) -> CheckResult:
    """The same review to A then to B, and to both at once: one stored decision each time."""
    evidence, ok = [], True
    rid = _rid("cs-seq")
    body = {"request_id": rid, "creative": {"text": PLAIN[0]}}
    status_a, first, ms_a = a.post("/v1/review", body)
    status_b, second, ms_b = b.post("/v1/review", body)
    rows = rows_for(store, rid)
    ok &= (status_a, status_b) == (200, 200) and first.get("cached") is False and second.get("cached") is True
    ok &= _same_decision(first, second) and rows == 1
    action = first.get("decision", {}).get("action", f"HTTP {status_a}")
    evidence.append(f"`{rid}` to A then B: A cached={first.get('cached')} ({action}, "
                    f"{ms_a:.0f} ms), B cached={second.get('cached')} (same decision: "
                    f"{_same_decision(first, second)}, {ms_b:.0f} ms); {rows} row in `decisions`")

    rid = _rid("cs-race")
    body = {"request_id": rid, "creative": {"text": PLAIN[1]}}
    answers: dict[str, tuple[int, dict[str, Any], float]] = {}
    barrier = threading.Barrier(2)

    def send(door: Door) -> None:
        barrier.wait()
        answers[door.label] = door.post("/v1/review", body)

    threads = [threading.Thread(target=send, args=(door,)) for door in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    rows = rows_for(store, rid)
    fresh = sorted(label for label, (_, doc, _) in answers.items() if doc.get("cached") is False)
    both_ok = len(answers) == 2 and all(status == 200 for status, _, _ in answers.values())
    same = both_ok and _same_decision(answers["A"][1], answers["B"][1])
    ok &= both_ok and len(fresh) == 1 and same and rows == 1
    how = ""
    if both_ok and len(fresh) == 1:
        other = answers["B" if fresh == ["A"] else "A"][1]
        how = (" (it found the stored decision at its lookup)" if "store_lookup" in other.get("timings_ms", {})
               else " (it scored too and lost the insert on the primary key)")
    evidence.append(f"`{rid}` to A and B at once: fresh on {', '.join(fresh) or 'none'}, cached on the other{how}; "
                    f"same decision: {same}; {rows} row in `decisions`")
    return CheckResult("a", "one decision per request_id across nodes", ok, evidence)


# ---------------------------------------------------------------------------------------- (b)
def check_verdicts(a: Door, b: Door) -> CheckResult:
    """A verdict through A is what B serves; an appeal through B is what A serves."""
    rid = _rid("cs-verdict")
    status, review, _ = a.post("/v1/review", {"request_id": rid, "creative": {"text": PLAIN[2]}})
    original = review["decision"]["action"] if status == 200 else f"HTTP {status}"
    verdict_action = "approve" if original == "reject" else "reject"
    _, verdict, _ = a.post("/v1/feedback", {"request_id": rid, "reviewer": "alice", "final_action": verdict_action,
                                            "note": "cluster check"})
    on_b = b.get(f"/v1/decisions/{rid}")
    _, appeal, _ = b.post("/v1/feedback", {"request_id": rid, "kind": "appeal", "reviewer": "bob",
                                           "final_action": original, "note": "appeal (cluster check)"})
    on_a = a.get(f"/v1/decisions/{rid}")
    ok = (status == 200 and verdict.get("effective_action") == verdict_action
          and on_b["effective_action"] == verdict_action and [f["reviewer"] for f in on_b["feedback"]] == ["alice"]
          and appeal.get("effective_action") == original and on_a["effective_action"] == original
          and [f["reviewer"] for f in on_a["feedback"]] == ["alice", "bob"])
    evidence = [
        f"`{rid}` reviewed through A: {original}; alice's verdict `{verdict_action}` through A "
        f"(feedback id {verdict.get('feedback_id')})",
        f"GET /v1/decisions/{rid} through B right after: action {on_b['action']}, effective_action "
        f"{on_b['effective_action']}, verdicts by {[f['reviewer'] for f in on_b['feedback']]}",
        f"bob's appeal `{original}` through B, then GET through A: effective_action {on_a['effective_action']}, "
        f"verdicts by {[f['reviewer'] for f in on_a['feedback']]}",
    ]
    return CheckResult("b", "reviewer verdicts are shared", ok, evidence)


# ---------------------------------------------------------------------------------------- (d)
def check_repeat_offenders(a: Door, b: Door, store: DecisionStore) -> CheckResult:
    """Two rejections through A make the advertiser a repeat offender on B, and B's on A."""
    advertiser = {"id": _rid("cs-adv"), "account_age_days": 400, "verified": True}
    steps: list[tuple[Door, str, dict[str, Any]]] = []
    for door in (a, a, b, a):
        rid = _rid("cs-hist")
        status, doc, _ = door.post("/v1/review", {"request_id": rid, "creative": {"text": SCAM},
                                                  "advertiser": advertiser})
        steps.append((door, rid, doc if status == 200 else {"decision": {"action": f"HTTP {status}"}}))
    control_rid = _rid("cs-ctrl")
    _, control, _ = b.post("/v1/review", {"request_id": control_rid, "creative": {"text": SCAM},
                                          "advertiser": {**advertiser, "id": _rid("cs-adv-new")}})

    def counted(rid: str) -> int | None:
        """The prior rejections the deciding ingress counted (its stored fusion facts)."""
        record = store.get(rid)
        value = record.inputs.get("facts", {}).get("history.rejections") if record else None
        return None if value is None else int(value)

    lines, actions = [], []
    for door, rid, doc in steps:
        action = doc["decision"]["action"]
        actions.append(action)
        rules = doc.get("fusion_rules", [])
        prior = [r for r in doc["decision"].get("reasons", []) if "prior violation" in r]
        lines.append(f"`{rid}` through {door.label}: {action}; history.rejections={counted(rid)}"
                     + (f"; fusion_rules {rules}" if rules else "") + (f"; reason “{prior[0]}”" if prior else ""))
    third = steps[2][2]
    ok = (actions[:2] == ["reject", "reject"] and counted(steps[2][1]) == 2 and counted(steps[3][1]) == 3
          and "repeat_offender" in third.get("fusion_rules", [])
          and any("2 prior violations" in r for r in third["decision"].get("reasons", []))
          and "repeat_offender" not in control.get("fusion_rules", []))
    lines.append(f"control: the same ad from a new advertiser through B ({control_rid}): "
                 f"{control['decision']['action']}, history.rejections={counted(control_rid)}, "
                 f"fusion_rules {control.get('fusion_rules', [])}")
    return CheckResult("d", "repeat-offender counts are shared", ok, [f"advertiser `{advertiser['id']}`", *lines])


# ---------------------------------------------------------------------------------------- (c)
@dataclass(frozen=True)
class Sample:
    door: str
    request_id: str
    started: float  # wall clock, as the store's created_at
    status: int
    policy: str  # model_versions.policy of the answer


@dataclass
class Sampler:
    """Reviews in a loop through each door (fresh ids), keeping when each started and which
    policy version answered it."""

    doors: list[Door]
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _loop(self, door: Door) -> None:
        n = 0
        while not self._stop.is_set():
            rid = _rid(f"cs-canary-{door.label}")
            started = time.time()
            status, doc, _ = door.post("/v1/review", {"request_id": rid, "creative": {"text": PLAIN[n % len(PLAIN)]}})
            with self._lock:
                self.samples.append(Sample(door.label, rid, started, status,
                                           doc.get("model_versions", {}).get("policy", "")))
            n += 1

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._loop, args=(d,), daemon=True) for d in self.doors]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)

    def after(self, t: float, label: str) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.door == label and s.started >= t]


def check_canary(a: Door, b: Door, store: DecisionStore, cli: AdriskCli, poll_s: float,
                 candidate: str = "1") -> CheckResult:
    """`adrisk deploy canary --component policy --version 1 --percent 100` (a subprocess) while both
    doors serve traffic: every review started a poll interval after the rollout committed acts on
    the candidate, on both nodes."""
    sampler = Sampler([a, b])
    sampler.start()
    try:
        time.sleep(poll_s + 0.5)  # both ingresses serving the stable policy with a fresh plan
        out = cli.run("deploy", "canary", "--component", "policy", "--version", candidate, "--percent", "100")
        committed = store.rollout_history("policy")[-1]["created_at"]
        settled = committed + poll_s + CLOCK_SLACK_S
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(len(sampler.after(settled, d.label)) for d in (a, b)) < 5:
            time.sleep(0.1)
    finally:
        sampler.stop()
    status = cli.run("deploy", "status")
    evidence = [f"`adrisk deploy canary --component policy --version {candidate} --percent 100 --store "
                f"postgresql://…` (a subprocess): {out.splitlines()[-1] if out else ''}",
                f"`adrisk deploy status`: {' | '.join(line.strip() for line in status.splitlines())}"]
    ok = f"canary {candidate} at 100%" in status
    for door in (a, b):
        since = sampler.after(committed - 5, door.label)
        failed = sum(1 for s in since if s.status != 200)
        is_candidate = [s.policy.endswith(f"@{candidate}") for s in since]
        first = next((s for s, c in zip(since, is_candidate, strict=True) if c), None)
        stable = [s.started for s, c in zip(since, is_candidate, strict=True) if not c]
        late = [t for t in stable if t >= settled]
        seen = None if first is None else first.started - committed
        ok &= failed == 0 and not late and seen is not None and seen <= poll_s + CLOCK_SLACK_S
        if first is None:
            evidence.append(f"node {door.label}: the canary never seen in {len(since)} reviews")
            continue
        record = store.get(first.request_id)
        arm = record.inputs.get("arms", {}).get("policy") if record else None
        last = f"{max(stable) - committed:+.2f} s" if stable else "none in the window"
        evidence.append(
            f"node {door.label}: canary seen after {seen:.2f} s (`{first.request_id}`: model_versions.policy "
            f"{first.policy}, stored arm {arm}); last review on the stable policy started {last} from the commit; "
            f"{len(since)} reviews, {len(late)} on the stable policy after the poll interval, {failed} failed")
    return CheckResult("c", f"a CLI canary reaches both nodes within the poll interval ({poll_s:g} s)", ok, evidence)
