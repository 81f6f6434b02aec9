"""benchmarks.entrypoints' variants: `serve.DEPLOYMENT.OPTION` keys become a validated copy of the
cpu Serve config, everything else stays a profile override."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.entrypoints import TWO_ENCODERS, split_overrides


def deployments(path) -> dict[str, dict]:
    doc = yaml.safe_load(path.read_text())
    return {d["name"]: d for d in doc["applications"][0]["deployments"]}


def test_serve_keys_change_only_their_deployment(tmp_path):
    profile, serve_config = split_overrides({"graph": "local_scorer", **TWO_ENCODERS}, tmp_path)
    assert profile == {"graph": "local_scorer"}
    got = deployments(serve_config)
    assert got["TextEncoder"]["num_replicas"] == 2
    assert got["TextEncoder"]["ray_actor_options"] == {"num_cpus": 0.4}
    assert got["TextEncoder"]["user_config"]["max_batch_size"] == 32  # the rest of the entry is kept
    assert got["ImageRiskModel"]["num_replicas"] == 1 and got["Ingress"]["ray_actor_options"] == {"num_cpus": 0.2}


def test_no_serve_keys_means_the_serve_config_as_is(tmp_path):
    assert split_overrides({"graph": "fused"}, tmp_path) == ({"graph": "fused"}, None)


def test_a_misspelt_option_is_refused_like_adrisk_serve_refuses_it(tmp_path):
    with pytest.raises(ValueError, match="num_replicaz"):
        split_overrides({"serve.TextEncoder.num_replicaz": 2}, tmp_path)
