"""Fast tier for the review stages (serving/stages/) and ReviewPipeline, in-process: the model
replicas are plain async functions, the rest is real — the cpu profile's config, a SQLite
decision store, the trained text heads scoring the jobs, the page head the pipeline loads."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.config import AdriskConfig, StoreConfig, load_config, resolve_project_path
from core.errors import AdriskError, Conflict, InvalidInput, Unavailable, UnprocessableInput, UnsupportedMediaType
from core.schemas import Action, LlmDiagnosis, ReviewRequest, ReviewResponse, SummaryStatus, Violation
from core.store import DecisionStore
from core.store_factory import open_store
from models.contracts import LlmAnswer, MediaFailure, MediaResult, Medium, ScoredFrame, ScoredImage, ScoredVideo
from models.diagnosis import ReviewContext
from models.heads import HeadSet
from models.scoring import ScoreJob, ScoreResult, TextPart, aggregate_video, score_job
from multimodal.fetch import FetchedPage
from serving.pipeline import ReviewPipeline
from serving.rollout import ComponentRollout, RolloutPlan, default_versions
from serving.stages import fetch as fetch_stage
from serving.stages.fanout import FanOutStage, ModelCalls
from serving.stages.prepare import PrepareStage
from serving.stages.state import PreparedAd, ReviewState, SourcedMedium
from tests.media import b64, encode, landscape_photo

CPU = load_config("cpu")
IMAGE = b64(encode(landscape_photo(size=(160, 120))))
UNREADABLE = encode(landscape_photo(seed=1, size=(160, 120)))  # the fake image model cannot decode it
WEAPON = {"weapons": 0.97}  # what the fake image model scores a rifle: past the reject threshold


@pytest.fixture(scope="module")
def heads() -> HeadSet:
    loaded = HeadSet.load(resolve_project_path(CPU.heads.text), CPU.taxonomy, CPU.heads.zero_shot_scale,
                          CPU.heads.zero_shot_bias)
    score_job(ScoreJob(texts=[], url="http://warm.up/"), loaded)  # lazy vectorizers: once per module
    return loaded


class Models:
    """The four replicas as async functions that record what they were sent."""

    def __init__(self, heads: HeadSet, media: Callable[[Medium], MediaResult] | None = None) -> None:
        self.heads = heads
        self.media = media or (lambda medium: ScoredImage({}, {}, "", 7))
        self.sent: dict[str, list[Any]] = {"media": [], "texts": [], "jobs": [], "diagnose": []}
        self.diagnosis: LlmDiagnosis | None = None

    async def score_media(self, items: list[Medium]) -> list[MediaResult]:
        self.sent["media"].append(items)
        return [self.media(item) for item in items]

    async def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.sent["texts"].append(texts)
        rows = [sum((self._word(w) for w in t.lower().split()), np.zeros(self.heads.prompt_vectors.shape[1]))
                for t in texts]
        return np.stack([r / (np.linalg.norm(r) or 1.0) for r in rows]).astype(np.float16)

    def _word(self, word: str) -> np.ndarray:
        """A fixed random vector per word: texts that share words embed close together."""
        seed = int(hashlib.sha256(word.strip(".,!").encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).standard_normal(self.heads.prompt_vectors.shape[1])

    async def score_jobs(self, payload: tuple[list[ScoreJob], str]) -> list[ScoreResult]:
        self.sent["jobs"].append(payload)
        return [score_job(job, self.heads) for job in payload[0]]

    async def diagnose(self, ctx: ReviewContext) -> LlmAnswer:
        self.sent["diagnose"].append(ctx)
        return LlmAnswer("fake-llm", "prompt-test", 10, 5, 1.0, 2.0, diagnosis=self.diagnosis)

    def pipeline(self, store: DecisionStore, config: AdriskConfig = CPU, **kw: Any) -> ReviewPipeline:
        return ReviewPipeline(config, self.score_media, self.embed_texts, self.score_jobs, store,
                              diagnose=self.diagnose, **kw)


@pytest.fixture
def store(tmp_path: Path) -> DecisionStore:
    return open_store(StoreConfig(path=str(tmp_path / "decisions.sqlite3")))


def ad(request_id: str, **body: Any) -> ReviewRequest:
    return ReviewRequest.model_validate({"request_id": request_id, **body})


def text_ad(request_id: str, summary: str = "none", **options: Any) -> ReviewRequest:
    return ad(request_id, creative={"text": "Fresh organic apples from our orchard, delivered weekly"},
              options={"summary": summary, **options})


def image_ad(request_id: str, summary: str = "none", **options: Any) -> ReviewRequest:
    return ad(request_id, creative={"images": [{"data": IMAGE}]}, options={"summary": summary, **options})


def review(pipeline: ReviewPipeline, *requests: ReviewRequest) -> list[ReviewResponse | AdriskError]:
    return asyncio.run(pipeline.review_many(list(requests)))


def test_a_text_ad_end_to_end_is_scored_decided_and_stored(heads, store):
    models = Models(heads)
    page = "<html><title>Orchard apples</title><body><p>Fresh organic apples, delivered weekly.</p></body></html>"
    request = ad("text-1", creative={"text": "Fresh organic apples, delivered weekly"},
                 landing_page={"url": "https://orchard.example/apples", "html": page},
                 options={"summary": "none"})
    (out,) = review(models.pipeline(store), request)
    assert isinstance(out, ReviewResponse) and not out.cached
    assert out.decision.action is Action.approve
    assert models.sent["media"] == [] and len(models.sent["texts"]) == 1  # no images; one encoder call
    assert {"creative.text", "landing_page.title"} <= {p.source for p in models.sent["jobs"][0][0][0].texts}
    assert out.model_versions["text_heads"] == heads.ident and out.model_versions["page_head"].startswith("page")
    assert {"prepare", "text_encoder", "scorer", "policy", "store", "total"} <= set(out.timings_ms)
    assert out.summary_status is SummaryStatus.not_requested
    stored = store.get("text-1")
    assert stored is not None and stored.action == "approve"
    assert stored.inputs["texts"][0]["source"] == "creative.text"


def test_a_failed_medium_fails_its_ad_only_and_answers_stay_in_order(heads, store):
    def media(medium: Medium) -> MediaResult:
        if medium.data == UNREADABLE:
            return MediaFailure("unsupported_media_type", "not an image")
        return ScoredImage(WEAPON, {"weapons": "fake: rifle"}, "BUY NOW", 0x1234)

    models = Models(heads, media)
    broken = ad("img-broken", creative={"images": [{"data": IMAGE}, {"data": b64(UNREADABLE)}]},
                options={"summary": "none"})
    outs = review(models.pipeline(store), text_ad("first"), broken, image_ad("rifle"))
    assert [getattr(o, "request_id", None) for o in outs] == ["first", None, "rifle"]
    error = outs[1]
    assert isinstance(error, UnsupportedMediaType) and error.http_status == 415
    assert error.detail == "creative.images[1]: not an image"
    assert outs[2].decision.action is Action.reject and outs[2].decision.categories == ["weapons"]
    assert len(models.sent["media"]) == 1 and len(models.sent["media"][0]) == 3  # one call for the batch
    assert models.sent["texts"][-1] == ["BUY NOW"]  # OCR text of the live ad only, second encoder call
    assert [len(jobs) for jobs, _ in models.sent["jobs"]] == [2]  # the failed ad is never scored
    assert store.get("img-broken") is None and store.get("rifle").action == "reject"


def test_a_near_copy_of_a_rejected_image_matches_the_known_bad_bank(heads, store):
    models = Models(heads, lambda medium: ScoredImage(WEAPON, {"weapons": "fake: rifle"}, "", 0x0F0F_F0F0_1234_5678))
    pipeline = models.pipeline(store)
    (rejected,) = review(pipeline, image_ad("original"))
    assert rejected.decision.action is Action.reject
    models.media = lambda medium: ScoredImage({}, {}, "", 0x0F0F_F0F0_1234_5679)  # one bit away, scored clean
    (copy,) = review(pipeline, ad("copy", creative={"images": [{"data": IMAGE}], "text": "New stock"}))
    assert "known_bad" in copy.fusion_rules and copy.scores["weapons"] > 0
    assert any("known-bad decision original" in e.detail for e in copy.evidence)


def test_a_batchs_ads_are_prepared_concurrently(heads, store, monkeypatch):
    started: list[str] = []
    second = asyncio.Event()

    async def fetch_page(url: str, config: Any, **kw: Any) -> FetchedPage:
        started.append(url)
        if len(started) == 2:
            second.set()
        await asyncio.wait_for(second.wait(), timeout=2)  # sequential preparation would stall here
        body = f"<html><title>{url}</title><body>Shop</body></html>".encode()
        return FetchedPage(url, url, 200, "text/html", body)

    monkeypatch.setattr(fetch_stage, "fetch_page", fetch_page)
    config = CPU.model_copy(update={"fetch": CPU.fetch.model_copy(update={"enabled": True})})
    outs = review(Models(heads).pipeline(store, config),
                  *(ad(f"fetched-{i}", landing_page={"url": f"https://shop{i}.example/"}) for i in range(2)),
                  ad("bad", creative={"images": [{"data": b64(b"not an image at all")}]}))
    assert sorted(started) == ["https://shop0.example/", "https://shop1.example/"]
    assert [o.request_id for o in outs[:2]] == ["fetched-0", "fetched-1"]
    assert isinstance(outs[2], InvalidInput) and outs[2].detail.startswith("creative.images[0]: ")


def test_a_replayed_request_id_is_answered_from_the_store_without_the_models(heads, store):
    models = Models(heads)
    pipeline = models.pipeline(store)
    (first,) = review(pipeline, text_ad("again"))
    calls = {k: len(v) for k, v in models.sent.items()}
    (replay,) = review(pipeline, text_ad("again"))
    assert {k: len(v) for k, v in models.sent.items()} == calls
    assert replay.cached and replay.decision == first.decision and set(replay.timings_ms) == {"store_lookup"}
    (other,) = review(pipeline, image_ad("again"))  # same id, other content
    assert isinstance(other, Conflict) and other.http_status == 409
    (rescored,) = review(pipeline, text_ad("again", rescore=True))
    assert not rescored.cached and len(models.sent["jobs"]) == calls["jobs"] + 1


def test_an_id_taken_by_other_content_meanwhile_is_a_conflict(heads, store):
    models = Models(heads)
    arrived = 0
    both = asyncio.Event()
    score = models.score_jobs

    async def score_together(payload: tuple[list[ScoreJob], str]) -> list[ScoreResult]:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=2)  # both calls looked the id up: neither found it
        return await score(payload)

    models.score_jobs = score_together  # type: ignore[method-assign]
    pipeline = models.pipeline(store)

    async def race() -> list[list[ReviewResponse | AdriskError]]:
        return list(await asyncio.gather(pipeline.review_many([text_ad("raced")]),
                                         pipeline.review_many([image_ad("raced")])))

    outs = [out for (out,) in asyncio.run(race())]
    assert sorted(type(o).__name__ for o in outs) == ["Conflict", "ReviewResponse"]
    assert "taken concurrently" in next(o for o in outs if isinstance(o, Conflict)).detail


DIAGNOSIS = LlmDiagnosis(violations=[Violation(category="weapons", severity="high", evidence="rifle",
                                               rationale="a firearm is sold")],
                         summary="The creative shows a rifle for sale.", confidence=0.9)


@pytest.mark.parametrize(("summary", "make", "status", "waits"), [
    ("none", image_ad, SummaryStatus.not_requested, False),
    ("auto", text_ad, SummaryStatus.skipped, False),  # approve: nothing to explain
    ("auto", image_ad, SummaryStatus.pending, False),  # reject: explained after it is stored
    ("always", image_ad, SummaryStatus.ok, True),
])
def test_summary_plans(heads, store, summary, make, status, waits):
    models = Models(heads, lambda medium: ScoredImage(WEAPON, {"weapons": "fake: rifle"}, "", 1))
    models.diagnosis = DIAGNOSIS
    pipeline = models.pipeline(store)

    async def run() -> ReviewResponse:
        (out,) = await pipeline.review_many([make("s", summary)])
        assert await pipeline.background.drain(2) == 0  # an `auto` diagnosis runs after the answer
        return out

    out = asyncio.run(run())
    assert out.summary_status is status
    assert (out.diagnosis is not None) is waits and ("llm" in out.timings_ms) is waits
    stored = store.get("s").response
    if status is SummaryStatus.pending:  # written onto the stored decision when it finished
        assert len(models.sent["diagnose"]) == 1
        assert stored["summary_status"] == "ok" and stored["diagnosis"]["summary"].startswith("The creative")
        assert stored["model_versions"]["llm"] == "fake-llm"
    if waits:
        assert out.diagnosis.violations[0].category == "weapons" and out.model_versions["llm"] == "fake-llm"
        assert models.sent["diagnose"][0].action == "reject"


def test_summaries_without_an_llm_or_room_are_disabled_or_shed(heads, store):
    models = Models(heads, lambda medium: ScoredImage(WEAPON, {}, "", 1))
    (off,) = review(models.pipeline(store, CPU.model_copy(update={"llm": None})), image_ad("off", "auto"))
    assert off.summary_status is SummaryStatus.disabled
    full = models.pipeline(store)
    full.background.limit = 0
    (shed,) = review(full, image_ad("shed", "auto"))
    assert shed.summary_status is SummaryStatus.shed and models.sent["diagnose"] == []
    models.diagnosis = None  # the LLM's output failed validation
    (invalid,) = review(models.pipeline(store), image_ad("invalid", "always"))
    assert invalid.summary_status is SummaryStatus.invalid and invalid.decision.action is Action.reject


class Plans:
    def __init__(self, plan: RolloutPlan) -> None:
        self._plan = plan

    def plan(self) -> RolloutPlan:
        return self._plan


@pytest.mark.parametrize("shadow_fails", [False, True])
def test_a_shadowed_head_set_scores_every_ad_and_is_never_acted_on(heads, store, shadow_fails):
    models = Models(heads)
    score = models.score_jobs
    versions: list[str] = []

    async def score_arm(payload: tuple[list[ScoreJob], str]) -> list[ScoreResult]:
        versions.append(payload[1])
        if payload[1] == "candidate" and shadow_fails:
            raise RuntimeError("candidate replica crashed")
        return await score(payload)

    models.score_jobs = score_arm  # type: ignore[method-assign]
    defaults = default_versions(CPU)
    rollout = ComponentRollout(stable=defaults["text_heads"], candidate="candidate", mode="shadow")
    pipeline = models.pipeline(store, rollouts=Plans(RolloutPlan({"text_heads": rollout}, defaults)))
    outs = review(pipeline, text_ad("s-1"), text_ad("s-2"))
    assert all(isinstance(o, ReviewResponse) for o in outs)
    assert sorted(versions) == ["", "candidate"]  # one call per arm, each with both ads
    inputs = store.get("s-2").inputs
    assert inputs["arms"] == {"text_heads": {"version": defaults["text_heads"], "candidate": False}}
    if shadow_fails:
        assert inputs["shadow"] == {} and inputs["latency_ms"]["shadow_scorer"] is None
    else:
        assert inputs["shadow"]["text_heads"]["action"] == outs[1].decision.action.value
        assert inputs["latency_ms"]["shadow_scorer"] > 0


# ------------------------------------------------------------------------------ single stages
def test_prepare_stage_ends_bad_ads_and_prepares_the_rest(store):
    stage = PrepareStage(CPU, store, None, lambda: 0.0)
    states = [ReviewState(text_ad("ok")), ReviewState(ad("huge", creative={"images": [{"data": IMAGE}] * 99}))]
    asyncio.run(stage.run(states))
    assert states[0].ad is not None and states[0].ad.texts[0].source == "creative.text"
    assert "prepare" in states[0].stage_ms and not states[0].done
    assert isinstance(states[1].outcome, UnprocessableInput) and states[1].ad is None


def test_fan_out_reads_videos_and_ocr_and_fails_the_call_on_a_model_error(heads):
    models = Models(heads)
    frames = tuple(ScoredFrame({"weapons": 0.3 + i / 10}, {}, f"frame text {i}" if i else "", i, float(i))
                   for i in range(3))
    models.media = lambda medium: ScoredVideo(3.0, frames)
    stage = FanOutStage(CPU, ModelCalls(models.score_media, models.embed_texts, models.score_jobs))
    state = ReviewState(text_ad("v"))
    state.ad = PreparedAd(state.request, "digest", media=[SourcedMedium("video", Medium("video", b"x"))])
    asyncio.run(stage.run([state], None))
    assert [p.text for p in state.ocr] == ["frame text 1", "frame text 2"]
    assert [s.source for s in state.sightings] == ["video@0.0s", "video@1.0s", "video@2.0s"]
    assert state.job is not None and state.job.text_embeddings.shape[0] == 2
    assert state.scored is not None and state.scored.result.scores["weapons"] == pytest.approx(
        aggregate_video(frames, CPU.video.aggregation, CPU.video.top_k)[0].scores["weapons"], abs=1e-6)
    assert {"image_models", "text_encoder_ocr", "scorer"} <= set(state.stage_ms)

    async def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("encoder replica died")

    stage = FanOutStage(CPU, ModelCalls(models.score_media, broken, models.score_jobs))
    states = [ReviewState(text_ad(f"t{i}")) for i in range(2)]
    for s in states:
        s.ad = PreparedAd(s.request, "digest", texts=[TextPart("creative.text", "hello")])
    asyncio.run(stage.run(states, None))
    assert all(isinstance(s.outcome, Unavailable) for s in states)
    assert states[0].outcome.detail == "text_encoder failed: RuntimeError"
