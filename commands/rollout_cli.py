"""`adrisk deploy`: canary, shadow, promote, rollback, status and the comparison report.

    adrisk deploy canary  --component text_heads --version 2 --percent 10
    adrisk deploy shadow  --component policy --version 3
    adrisk deploy promote --component text_heads      # the candidate becomes stable
    adrisk deploy rollback --component text_heads     # undo the latest step: drop the candidate,
                                                      # or, after a promote, restore the old stable
    adrisk deploy status ; adrisk deploy report --component text_heads

The candidate must be registered (`adrisk registry register`) and its artifact must match its
manifest. The state goes to the decision store (the profile's, or --store) and every ingress
picks it up within `registry.rollout_poll_s`; nothing restarts.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from commands.cli_errors import one_line_errors
from core.config import load_config
from core.store import DecisionStore
from core.store_factory import open_store, store_config_for
from models.registry import Registry, RegistryError
from serving.rollout import ROLLOUT_COMPONENTS, ComponentRollout, default_versions


def _percent(text: str) -> int:
    """argparse type: a whole number from 1 to 100 (argparse turns the error into one usage line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100")
    return value


def _current(store: DecisionStore, component: str, defaults: dict[str, str]) -> ComponentRollout:
    state = store.rollouts()[1].get(component)
    return ComponentRollout.model_validate(state) if state else ComponentRollout(stable=defaults[component])


def apply(store: DecisionStore, registry: Registry, defaults: dict[str, str], action: str, component: str,
          version: str | None = None, percent: int = 10, actor: str = "", note: str = "") -> ComponentRollout:
    """The next state of `component` after `action`, written to the store's rollout history.

    Rollback undoes the latest step whatever the state: a candidate in canary or shadow is dropped;
    with none, the stable version the last promote replaced is restored."""
    if component not in ROLLOUT_COMPONENTS:
        raise SystemExit(f"--component must be one of {ROLLOUT_COMPONENTS}")
    current = _current(store, component, defaults)
    if action in ("canary", "shadow"):
        if not version:
            raise SystemExit(f"deploy {action}: --version is required")
        _verify(registry, component, version, "cannot roll out")
        if version == current.stable:
            raise SystemExit(f"{component} {version} is already stable")
        new = current.model_copy(update={"candidate": version, "mode": action,
                                         "percent": percent if action == "canary" else 0})
    elif action == "promote":
        if current.candidate is None:
            raise SystemExit(f"{component}: no candidate to promote")
        new = ComponentRollout(stable=current.candidate, previous=[*current.previous, current.stable])
    elif action == "rollback":
        if current.candidate is not None:
            new = ComponentRollout(stable=current.stable, previous=current.previous)
        elif current.previous:
            restored = current.previous[-1]
            _verify(registry, component, restored, "cannot roll back")
            new = ComponentRollout(stable=restored, previous=current.previous[:-1])
        else:
            raise SystemExit(f"{component}: nothing to roll back (stable {current.stable}, no candidate, "
                             "no earlier promote)")
    else:
        raise SystemExit(f"unknown action {action}")
    store.set_rollout(component, new.model_dump(), actor or getpass.getuser(), note or action)
    return new


def _verify(registry: Registry, component: str, version: str, what: str) -> None:
    """The version must be registered and its artifact must match its manifest."""
    try:
        registry.verify(registry.get(component, version))
    except (RegistryError, FileNotFoundError) as exc:
        raise SystemExit(f"{what}: {exc}") from None


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def report(store: DecisionStore, component: str, since: float | None = None) -> dict[str, Any]:
    """Since the latest canary/shadow start for the component: per-arm outcomes and latency
    (canary), or agreement, score deltas and latency of stable vs candidate (shadow)."""
    history = store.rollout_history(component)
    starts = [h for h in history if h["state"].get("mode")]
    if since is None:
        since = starts[-1]["created_at"] if starts else 0.0
    arms: dict[str, dict[str, Any]] = {}
    pairs: list[tuple[str, str]] = []
    deltas: dict[str, list[float]] = {}
    latency: dict[str, list[float]] = {"stable": [], "candidate": []}
    for record in store.decisions(since=since):
        inputs = record.inputs
        arm = inputs.get("arms", {}).get(component)
        if arm is None:
            continue
        name = "candidate" if arm["candidate"] else "stable"
        a = arms.setdefault(name, {"version": arm["version"], "n": 0, "actions": Counter(), "latency_ms": []})
        a["n"] += 1
        a["actions"][record.action] += 1
        lat = inputs.get("latency_ms", {})
        ms = lat.get("scorer") if component == "text_heads" else inputs.get("stage_ms", {}).get("policy")
        if ms is not None:
            a["latency_ms"].append(ms)
        shadow = inputs.get("shadow", {}).get(component)
        if shadow:
            pairs.append((record.action, shadow["action"]))
            acted = record.response.get("scores", {})
            for category, score in shadow["scores"].items():
                deltas.setdefault(category, []).append(score - acted.get(category, 0.0))
            if lat.get("scorer") is not None:
                latency["stable"].append(lat["scorer"])
            if lat.get("shadow_scorer") is not None:
                latency["candidate"].append(lat["shadow_scorer"])
    out: dict[str, Any] = {"component": component, "since": since, "arms": {}}
    for name, a in arms.items():
        out["arms"][name] = {"version": a["version"], "n": a["n"], "actions": dict(a["actions"]),
                             "latency_ms_p50": _pct(a["latency_ms"], 50), "latency_ms_p95": _pct(a["latency_ms"], 95)}
    if pairs:
        out["shadow"] = {
            "n": len(pairs), "agreement": round(sum(x == y for x, y in pairs) / len(pairs), 4),
            "transitions": {f"{x} → {y}": v for (x, y), v in Counter(pairs).most_common() if x != y},
            "mean_abs_score_delta": {c: round(float(np.mean(np.abs(v))), 4) for c, v in sorted(deltas.items())
                                     if np.mean(np.abs(v)) >= 0.001},
            "max_abs_score_delta": round(max(float(np.max(np.abs(v))) for v in deltas.values()), 4) if deltas else 0,
            "latency_ms_p50": {k: _pct(v, 50) for k, v in latency.items()},
            "latency_ms_p95": {k: _pct(v, 95) for k, v in latency.items()},
        }
    return out


@one_line_errors("deploy")
def cmd_deploy(args: argparse.Namespace) -> int:
    config = load_config(args.profile)
    store = open_store(store_config_for(args.store, config.store) if args.store else config.store)
    defaults = default_versions(config)
    if args.action == "status":
        for component in ROLLOUT_COMPONENTS:
            state = _current(store, component, defaults)
            extra = f", {state.mode} {state.candidate}" + (f" at {state.percent}%" if state.mode == "canary" else "")
            undo = f" (rollback restores {state.previous[-1]})" if state.previous and not state.candidate else ""
            print(f"{component:<11} stable {state.stable}{extra if state.candidate else ''}{undo}")
        return 0
    if args.action == "report":
        print(json.dumps(report(store, args.component), indent=2))
        return 0
    registry = Registry.from_config(config)
    if args.registry:
        registry = Registry([*registry.dirs, Path(args.registry)])
    new = apply(store, registry, defaults, args.action, args.component, args.version,
                args.percent, args.actor, args.note)
    print(f"{args.component}: {json.dumps(new.model_dump())} (ingresses pick it up within "
          f"{config.registry.rollout_poll_s:g} s)")
    return 0


def add_deploy_parser(sub: Any) -> None:
    p = sub.add_parser("deploy", help="roll a head set or policy version out: canary, shadow, promote, rollback")
    p.add_argument("action", choices=["canary", "shadow", "promote", "rollback", "status", "report"])
    p.add_argument("--component", default="text_heads", choices=list(ROLLOUT_COMPONENTS))
    p.add_argument("--version", default=None, help="the registered candidate version")
    p.add_argument("--percent", type=_percent, default=10, help="canary share of traffic, 1 to 100")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--store", default=None,
                   help="the decision store the service uses: a SQLite path or a postgresql:// URL "
                   "(default: the profile's)")
    p.add_argument("--registry", default=None, help="an extra manifest directory (as the service's registry.dirs)")
    p.add_argument("--actor", default="", help="who (default: the OS user); kept in the rollout history")
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_deploy)
