"""The profile's `graph` (core/config/profile.py): which text-path replicas the app builder binds, the
check that keeps `fused` to CPU encoders, and the Ingress's local engines answering as the replicas do."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from core.config import load_config
from models.scoring import ScoreJob, TextPart


def models_of(app) -> list[str | None]:
    """The names of the deployments bound as the Ingress's image, text, scorer and LLM arguments."""
    return [m._bound_deployment.name if m is not None else None for m in app._bound_deployment.init_args[:4]]


@pytest.mark.parametrize(("graph", "bound"), [
    ("split", ["ImageRiskModel", "TextEncoder", "RiskScorer", None]),
    ("local_scorer", ["ImageRiskModel", "TextEncoder", None, None]),
    ("fused", ["ImageRiskModel", None, None, None]),
])
def test_the_graph_decides_which_text_replicas_are_bound(graph, bound):
    from deployments.app import build_app

    app = build_app({"profile": "cpu", "overrides": {"llm": None, "graph": graph}})
    assert models_of(app) == bound


def test_the_cpu_profile_keeps_the_split_graph_by_default():
    assert load_config("cpu").graph == "split"


def test_fused_is_refused_for_an_encoder_off_the_cpu():
    section = load_config("cpu").text_encoder.model_dump()
    with pytest.raises(ValueError, match="graph: fused"):
        load_config("cpu", {"graph": "fused", "text_encoder": {**section, "device": "cuda"}})
    with pytest.raises(ValueError):
        load_config("cpu", {"graph": "one-process"})
    assert load_config("cpu", {"graph": "local_scorer", "text_encoder": {**section, "device": "cuda"}}).graph


def test_the_local_scorer_scores_as_the_head_set_does():
    from deployments.models import LocalScorer
    from models.scoring import HeadScorer

    config = load_config("cpu", {"llm": None})
    local, reference = LocalScorer(config), HeadScorer(config)
    reference.setup()
    rng = np.random.default_rng(3)
    jobs = [ScoreJob(texts=[TextPart("creative.text", text)],
                     text_embeddings=rng.standard_normal((1, 384)).astype(np.float16))
            for text in ("Double your bitcoin in 24 hours", "Fresh sourdough bread delivered daily")]
    got = asyncio.run(local.score((jobs, "")))
    assert [r.scores for r in got] == [r.scores for r in reference.predict(jobs)]
    assert local.ident == reference.ident
