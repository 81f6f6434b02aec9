"""Offline A/B of two policy versions on the decision log: replay every logged decision's content
scores and fusion facts through both, and compare with each other and with reviewers' verdicts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from core.config import load_config, resolve_config_path
from core.schemas import Advertiser
from core.store import DecisionStore
from policy.decision import fuse_and_decide


def _advertiser(facts: dict[str, float]) -> Advertiser | None:
    keys = ("advertiser.account_age_days", "advertiser.prior_violations", "advertiser.verified", "history.rejections")
    if not any(k in facts for k in keys):
        return None
    prior = max(facts.get("advertiser.prior_violations", 0), facts.get("history.rejections", 0))
    return Advertiser(account_age_days=facts.get("advertiser.account_age_days"), prior_violations=int(prior),
                      verified=None if "advertiser.verified" not in facts else bool(facts["advertiser.verified"]))


def _policy_config(profile: str, policy_file: str):
    path = Path(policy_file)
    if not path.exists():
        path = resolve_config_path(policy_file)
    return load_config(profile, {"policy_doc": yaml.safe_load(path.read_text())})


def compare_policies(store: DecisionStore, profile: str, a: str, b: str, since_hours: float | None = None,
                     now: float | None = None) -> dict[str, Any]:
    import time

    config_a, config_b = _policy_config(profile, a), _policy_config(profile, b)
    since = 0.0 if since_hours is None else (now or time.time()) - since_hours * 3600
    transitions: Counter[tuple[str, str]] = Counter()
    flagged_a: Counter[str] = Counter()
    flagged_b: Counter[str] = Counter()
    reviewed = {"n": 0, "a_agrees": 0, "b_agrees": 0, "sided_with_a": 0, "sided_with_b": 0}
    skipped = 0
    for record in store.decisions(since=since):
        inputs = record.inputs
        if "content_scores" not in inputs:
            skipped += 1  # logged before inputs were recorded: cannot be replayed
            continue
        facts = inputs.get("facts", {})
        actions = []
        for config, flagged in ((config_a, flagged_a), (config_b, flagged_b)):
            decision = fuse_and_decide(inputs["content_scores"], facts, _advertiser(facts), config)[1]
            actions.append(decision.action.value)
            flagged.update(decision.categories)
        transitions[(actions[0], actions[1])] += 1
        verdicts = store.feedback_for(record.request_id)
        if verdicts:
            final = verdicts[-1].final_action
            reviewed["n"] += 1
            reviewed["a_agrees"] += actions[0] == final
            reviewed["b_agrees"] += actions[1] == final
            if actions[0] != actions[1]:
                reviewed["sided_with_a"] += actions[0] == final
                reviewed["sided_with_b"] += actions[1] == final
    n = sum(transitions.values())
    agree = sum(v for (x, y), v in transitions.items() if x == y)
    return {
        "a": f"{config_a.policy.name}@{config_a.policy.version}",
        "b": f"{config_b.policy.name}@{config_b.policy.version}",
        "n": n, "skipped": skipped, "agreement": round(agree / n, 4) if n else None,
        "transitions": {f"{x} → {y}": v for (x, y), v in sorted(transitions.items(), key=lambda kv: -kv[1])},
        "category_deltas": {c: flagged_b[c] - flagged_a[c] for c in sorted(set(flagged_a) | set(flagged_b))
                            if flagged_b[c] != flagged_a[c]},
        "reviewed": reviewed,
    }


def render(result: dict[str, Any]) -> str:
    lines = [f"# Policy A/B on the decision log: A = {result['a']}, B = {result['b']}", "",
             f"- Decisions replayed: {result['n']} (skipped, no recorded inputs: {result['skipped']})",
             f"- Agreement: {result['agreement']}", "", "| A → B | decisions |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["transitions"].items()]
    lines += ["", "| category | acted on by B − by A |", "|---|---|"]
    lines += [f"| {c} | {d:+d} |" for c, d in result["category_deltas"].items()] or ["| (none) | 0 |"]
    r = result["reviewed"]
    lines += ["", f"- With a reviewer verdict: {r['n']}; A matches the reviewer on {r['a_agrees']}, B on "
              f"{r['b_agrees']}; where A and B differ, the reviewer sided with A {r['sided_with_a']} times, "
              f"with B {r['sided_with_b']} times."]
    return "\n".join(lines) + "\n"
