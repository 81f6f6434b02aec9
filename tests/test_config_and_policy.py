"""Configs are data validated at load; the policy engine applies them."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from core.config import CONFIG_DIR, load_config
from core.schemas import Advertiser
from models.image_models import ClassMap, imagenet_label_names
from policy.decision import decide

CONFIG = load_config("cpu")


def policy_doc(**changes):
    doc = yaml.safe_load((CONFIG_DIR / "policy" / "v1.yaml").read_text())
    doc.update(changes)
    return doc


def test_profiles_load_and_taxonomy_is_complete():
    assert len(CONFIG.taxonomy.ids) == 18
    assert {"scam_fraud", "phishing", "child_safety", "destination_quality"} <= set(CONFIG.taxonomy.ids)
    gpu = load_config("gpu")
    assert gpu.text_encoder.device == "cuda"
    assert gpu.image_models[0].backend == "clip_zero_shot"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"weapons": {"review": 0.9, "reject": 0.5}}}, "above reject"),
        ({"thresholds": {"no_such_category": {"review": 0.1, "reject": 0.5}}}, "unknown category"),
        ({"precedence": ["reject", "approve"]}, "precedence"),
        ({"deboost_multiplier": 1.5}, "less than or equal"),
    ],
)
def test_bad_policy_fails_at_load(changes, message):
    with pytest.raises(ValidationError, match=message):
        load_config("cpu", {"policy_doc": policy_doc(**changes)})


def test_class_map_checks_names_against_imagenet(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text("weapons:\n  classes:\n    412: rifle\n")  # 412 is 'ashcan'
    with pytest.raises(ValueError, match="class 412"):
        ClassMap.load(str(bad), CONFIG.taxonomy.ids, imagenet_label_names())


def scores(**hits):
    base = dict.fromkeys(CONFIG.taxonomy.ids, 0.01)
    base.update(hits)
    return base


def test_all_low_is_approve():
    decision = decide(scores(), None, CONFIG)
    assert decision.action == "approve" and decision.traffic_multiplier == 1.0


def test_reject_above_threshold_and_review_band():
    assert decide(scores(weapons=0.95), None, CONFIG).action == "reject"
    decision = decide(scores(weapons=0.5), None, CONFIG)
    assert decision.action == "human_review" and decision.categories == ["weapons"]


def test_low_severity_category_deboosts():
    decision = decide(scores(regulated_verticals=0.9), None, CONFIG)
    assert decision.action == "deboost"
    assert decision.traffic_multiplier == CONFIG.policy.deboost_multiplier


def test_egregious_with_history_suspends_but_clean_history_rejects():
    repeat = Advertiser(id="a1", prior_violations=3)
    assert decide(scores(scam_fraud=0.95), repeat, CONFIG).action == "suspend_account"
    assert decide(scores(scam_fraud=0.95), Advertiser(id="a2", prior_violations=0), CONFIG).action == "reject"
    throwaway = Advertiser(id="a3", account_age_days=2, verified=False)
    assert decide(scores(phishing=0.99), throwaway, CONFIG).action == "suspend_account"
    verified_new = Advertiser(id="a4", account_age_days=2, verified=True)
    assert decide(scores(phishing=0.99), verified_new, CONFIG).action == "reject"
    # Non-egregious categories never suspend.
    assert decide(scores(weapons=0.99), repeat, CONFIG).action == "reject"


def test_zero_tolerance_hit_is_also_sent_to_a_reviewer():
    decision = decide(scores(child_safety=0.9), None, CONFIG)
    assert decision.action == "reject"
    assert any("zero-tolerance" in r for r in decision.reasons)


def test_precedence_is_policy_data():
    reordered = policy_doc(precedence=["suspend_account", "human_review", "reject", "deboost", "approve"])
    config = load_config("cpu", {"policy_doc": reordered})
    both = scores(weapons=0.95, hate_harassment=0.6)
    assert decide(both, None, CONFIG).action == "reject"
    assert decide(both, None, config).action == "human_review"


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_serve_configs_are_valid_ray_configs_for_our_graph(profile):
    from commands.launcher import read_serve_config
    from deployments.app import DEPLOYMENTS

    doc = read_serve_config(None, profile)  # validated against Ray's ServeDeploySchema
    (app,) = doc["applications"]
    assert app["import_path"] == "deployments.app:build_app"
    assert app["args"]["profile"] == profile
    assert {d["name"] for d in app["deployments"]} == set(DEPLOYMENTS)
    load_config(profile)


def test_serve_config_typo_is_refused(tmp_path):
    from commands.launcher import read_serve_config

    doc = yaml.safe_load((CONFIG_DIR / "serve" / "cpu.yaml").read_text())
    doc["applications"][0]["deployments"][0]["num_replicaz"] = 2
    bad = tmp_path / "serve.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match="num_replicaz"):
        read_serve_config(bad, "cpu")
