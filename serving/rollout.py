"""Rolling out a new head set or policy version: canary (a share of traffic acts on the candidate)
or shadow (everything is also scored by the candidate, logged, never acted on), then promote or
roll back. Rollback undoes the latest step from any state: with a candidate in canary or shadow
it drops the candidate; after a promote it restores the version that was stable before it (each
promote keeps the one it replaced in `previous`, so successive rollbacks walk back through them).

The state is data in the decision store's `rollouts` table (append-only: its history is the audit
trail), written by `adrisk deploy` and read by every ingress replica within
`registry.rollout_poll_s`; with PostgreSQL behind the store it is cluster-wide. No replica
restarts: head sets are multiplexed inside the RiskScorer replicas (`@serve.multiplexed`), policies
are data in the ingress. Each review takes one snapshot of the state when it starts, so an
in-flight review finishes on the versions it began with. The canary arm is a hash of the
request_id, so a retried request lands on the same arm.

Config: the watcher works from the ingress's one AdriskConfig (built by the app builder). A
policy version under rollout is a registered, hashed artifact, loaded on its own and verified
against its manifest; it replaces only the `policy` section of that same config (validated again
as a whole), so stable and candidate differ in their policy and nothing else.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import AdriskConfig, resolve_project_path
from core.store import DecisionStore
from models.registry import Registry

ROLLOUT_COMPONENTS = ("text_heads", "policy")


class ComponentRollout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stable: str
    candidate: str | None = None
    mode: Literal["canary", "shadow"] | None = None
    percent: int = Field(0, ge=0, le=100, description="canary share of traffic on the candidate")
    previous: list[str] = Field(
        default_factory=list, description="the stable version each promote replaced, oldest first (for rollback)")

    @model_validator(mode="after")
    def _consistent(self) -> ComponentRollout:
        if (self.candidate is None) != (self.mode is None):
            raise ValueError("a candidate needs a mode (canary or shadow), and a mode needs a candidate")
        if self.mode == "canary" and not 0 < self.percent <= 100:
            raise ValueError("a canary needs percent in 1..100")
        return self


def in_canary(request_id: str, percent: int) -> bool:
    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) % 100 < percent


def default_versions(config: AdriskConfig) -> dict[str, str]:
    """What the profile serves with no rollout: its head set's and policy's own versions."""
    import json

    manifest = json.loads((resolve_project_path(config.heads.text) / "manifest.json").read_text())
    return {"text_heads": str(manifest["version"]), "policy": str(config.policy.version)}


def with_policy(config: AdriskConfig, policy_doc: dict) -> AdriskConfig:
    """`config` with its policy replaced by `policy_doc`, validated like a loaded profile (what
    `load_config(profile, {"policy_doc": ...})` gives, without reading the profile again)."""
    return AdriskConfig.model_validate({**dict(config), "policy": policy_doc})


@dataclass(frozen=True)
class Arm:
    version: str
    candidate: bool


@dataclass(frozen=True)
class RolloutPlan:
    """One immutable snapshot: which version each review uses, and what runs in the shadow."""

    states: dict[str, ComponentRollout]
    defaults: dict[str, str]
    policies: dict[str, AdriskConfig] = field(default_factory=dict)  # policy version → config

    def arm(self, component: str, request_id: str) -> Arm:
        state = self.states.get(component)
        if state is None:
            return Arm(self.defaults[component], False)
        if state.mode == "canary" and state.candidate and in_canary(request_id, state.percent):
            return Arm(state.candidate, True)
        return Arm(state.stable, False)

    def shadow(self, component: str) -> str | None:
        state = self.states.get(component)
        return state.candidate if state is not None and state.mode == "shadow" else None

    def heads_model_id(self, version: str) -> str:
        """The multiplexed model id for a head version ('' = the replica's own default set)."""
        return "" if version == self.defaults["text_heads"] else version

    def policy_config(self, version: str, base: AdriskConfig) -> AdriskConfig:
        return base if version == self.defaults["policy"] else self.policies[version]


class RolloutWatcher:
    """Keeps the current plan, re-reading the store at most every `poll_s`."""

    def __init__(self, store: DecisionStore, config: AdriskConfig, clock=time.monotonic) -> None:
        self.store, self.config = store, config
        self.registry = Registry.from_config(config)
        self.poll_s = config.registry.rollout_poll_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = -1e18
        self._version = -1
        self._plan = RolloutPlan({}, default_versions(config))
        self._policy_cache: dict[str, AdriskConfig] = {}

    def plan(self) -> RolloutPlan:
        now = self._clock()
        if now - self._checked >= self.poll_s:
            with self._lock:
                self._checked = now
                version, states = self.store.rollouts()
                if version != self._version:
                    self._plan = self._build(states)
                    self._version = version
        return self._plan

    def _build(self, raw: dict[str, dict]) -> RolloutPlan:
        states = {c: ComponentRollout.model_validate(s) for c, s in raw.items() if c in ROLLOUT_COMPONENTS}
        defaults = default_versions(self.config)
        policies = {}
        if "policy" in states:
            for version in {states["policy"].stable, states["policy"].candidate} - {None, defaults["policy"]}:
                policies[version] = self.load_policy(version)
        return RolloutPlan(states, defaults, policies)

    def load_policy(self, version: str) -> AdriskConfig:
        """The config with a registered policy version in place of its own (verified, cached)."""
        if version not in self._policy_cache:
            manifest = self.registry.get("policy", version)
            self.registry.verify(manifest)
            doc = yaml.safe_load(resolve_project_path(manifest.artifact).read_text())
            self._policy_cache[version] = with_policy(self.config, doc)
        return self._policy_cache[version]
