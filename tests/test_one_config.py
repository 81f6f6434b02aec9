"""One config (issue 14 item 5): the app builder loads the profile once and binds that object to
every deployment; rollouts derive candidate policies from it instead of re-reading the profile."""

from __future__ import annotations

import pickle

import yaml

from core.config import CONFIG_DIR, AdriskConfig, load_config
from serving.rollout import with_policy


def bound_config(app) -> AdriskConfig:
    """The AdriskConfig among a bound deployment's constructor arguments (Ray's Application)."""
    (config,) = [a for a in app._bound_deployment.init_args if isinstance(a, AdriskConfig)]
    return config


def test_build_app_binds_one_config_object_to_every_deployment():
    from deployments.app import build_app

    app = build_app({"profile": "cpu", "overrides": {"request_timeout_s": 50}})
    config = bound_config(app)
    assert config.request_timeout_s == 50 and config.llm is not None and config.llm.enabled
    models = app._bound_deployment.init_args[:4]  # image, text, scorer, LLM
    assert [m._bound_deployment.name for m in models] == ["ImageRiskModel", "TextEncoder", "RiskScorer",
                                                          "LlmDiagnoser"]
    assert all(bound_config(m) is config for m in models)
    assert pickle.loads(pickle.dumps(config)) == config  # Ray ships bound arguments by pickle


def test_models_app_ingress_gets_its_own_config_and_no_models():
    from deployments.app import build_app

    app = build_app({"profile": "cpu", "overrides": {"llm": None}, "models_app": "adrisk"})
    args = app._bound_deployment.init_args
    assert args[:4] == (None, None, None, None) and args[5] == "adrisk"
    assert bound_config(app).llm is None


def test_a_candidate_policy_replaces_only_the_policy_of_the_one_config():
    base = load_config("cpu")
    doc = yaml.safe_load((CONFIG_DIR / "policy" / "v1.yaml").read_text())
    candidate = with_policy(base, doc)
    assert candidate == load_config("cpu", {"policy_doc": doc})
    assert candidate.policy.version != base.policy.version
    assert candidate.model_dump(exclude={"policy"}) == base.model_dump(exclude={"policy"})
