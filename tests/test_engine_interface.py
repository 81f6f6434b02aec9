"""Every Ray-free engine follows models/base.py: setup() once, then one predict-like call."""

from __future__ import annotations

import inspect

from core.config import load_config, resolve_project_path
from models.base import AsyncModelBackend, ModelBackend
from models.heads import HeadSet
from models.image_engine import ImageEngine
from models.llm_engine import VllmEngine
from models.scoring import HeadScorer, ScoreJob, score_job
from models.text_encoder import SentenceTransformerEncoder

CPU = load_config("cpu")


def test_engines_implement_the_narrow_interface():
    for engine in (ImageEngine, SentenceTransformerEncoder, HeadScorer):
        assert issubclass(engine, ModelBackend) and not inspect.isabstract(engine)
    assert issubclass(VllmEngine, AsyncModelBackend) and not inspect.isabstract(VllmEngine)
    assert inspect.iscoroutinefunction(VllmEngine.predict)


def test_head_scorer_scores_as_score_job_does():
    scorer = HeadScorer(CPU)
    scorer.setup()
    heads = HeadSet.load(resolve_project_path(CPU.heads.text), CPU.taxonomy, CPU.heads.zero_shot_scale,
                         CPU.heads.zero_shot_bias)
    jobs = [ScoreJob(url="http://paypal-login.example-verify.top/account"), ScoreJob()]
    assert scorer.ident == heads.ident
    assert scorer.predict(jobs) == [score_job(job, heads) for job in jobs]
    assert scorer.predict([]) == []
