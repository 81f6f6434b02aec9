"""/v1/moderations without a service: the mapping config, request shapes, the OpenAI mapping of a
review, and OpenAI-shaped errors (tests/test_service_moderation.py drives the running service)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import re
from collections.abc import AsyncIterator

import pytest
import yaml
from aiohttp import web
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core.config import CONFIG_DIR, FetchConfig, load_config
from core.errors import AdriskError, Overloaded, Unauthenticated, UnsupportedMediaType
from core.schemas import (
    OPENAI_CATEGORIES,
    Action,
    Decision,
    Evidence,
    ModerationRequest,
    ReviewResponse,
)
from serving.http_limits import BodyLimitMiddleware
from serving.moderation import (
    ImageRef,
    InvalidModerationInput,
    ModelNotFound,
    ModerationItem,
    OpenAIErrorShape,
    fetch_images,
    moderation_response,
    moderation_result,
    openai_error,
    plan_moderation,
    review_requests,
    run_reviews,
)
from tests.media import encode, landscape_photo

CONFIG = load_config("cpu")
MAPPING = yaml.safe_load((CONFIG_DIR / "moderation.yaml").read_text())
PNG = encode(landscape_photo(size=(64, 48)), "PNG")
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
UNBACKED = ("self-harm/intent", "self-harm/instructions", "violence/graphic")


def request(inp, model: str | None = None) -> ModerationRequest:
    return ModerationRequest.model_validate({"input": inp} | ({"model": model} if model else {}))


def review(scores: dict[str, float] | None = None, evidence: list[tuple[str, str]] = ()) -> ReviewResponse:
    """A pipeline answer with these final scores (every other category 0) and evidence sources."""
    full = {c: 0.0 for c in CONFIG.taxonomy.ids} | (scores or {})
    return ReviewResponse(
        request_id="modr-test-0", scores=full,
        decision=Decision(action=Action.approve, categories=[], reasons=[], policy_version="default@2"),
        evidence=[Evidence(source=s, category=c, score=full[c], detail="") for s, c in evidence],
        model_versions={"text_heads": "t@1"}, timings_ms={},
    )


def text_item(text: str = "some ad copy") -> ModerationItem:
    return ModerationItem("input", text)


# ------------------------------------------------------------------------------------ config
def load_with(change) -> None:
    doc = copy.deepcopy(MAPPING)
    change(doc)
    load_config("cpu", {"moderation": doc})


@pytest.mark.parametrize(("name", "change", "needle"), [
    ("unknown adrisk category", lambda d: d["categories"]["hate"].update(any_of=["hate_speech"]), "hate_speech"),
    ("unknown in all_of", lambda d: d["categories"]["hate/threatening"].update(all_of=["threats"]), "threats"),
    ("OpenAI key missing", lambda d: d["categories"].pop("sexual/minors"), "sexual/minors"),
    ("key OpenAI lacks", lambda d: d["categories"].update(spam={"any_of": ["scam_fraud"]}), "spam"),
    ("any_of and all_of", lambda d: d["categories"]["hate"].update(all_of=["violence_gore"]), "not both"),
    ("unbacked without a note", lambda d: d["categories"].update({"violence/graphic": {}}), "note"),
    ("unknown default model", lambda d: d.update(default_model="gpt-4o"), "default_model"),
    ("alias used twice", lambda d: d["models"][1]["aliases"].append("omni-moderation-latest"), "twice"),
    ("bad input type", lambda d: d["models"][0].update(input_types=["audio"]), "input_types"),
])
def test_a_bad_mapping_fails_at_load(name, change, needle):
    with pytest.raises(ValidationError, match=needle.replace("/", ".")):
        load_with(change)


def test_the_shipped_mapping_loads_with_every_openai_key_and_its_documented_gaps():
    assert tuple(CONFIG.moderation.categories) == OPENAI_CATEGORIES and len(OPENAI_CATEGORIES) == 13
    assert [k for k, m in CONFIG.moderation.categories.items() if not m.sources] == list(UNBACKED)


@pytest.mark.parametrize(("name", "resolved"), [
    (None, "adrisk-omni-moderation"), ("omni-moderation-latest", "adrisk-omni-moderation"),
    ("text-moderation-latest", "adrisk-text-moderation"), ("text-moderation-stable", "adrisk-text-moderation"),
    ("adrisk-text-moderation", "adrisk-text-moderation"),
])
def test_model_names_resolve_through_config_aliases(name, resolved):
    assert plan_moderation(request("hi", name), CONFIG).model.name == resolved


def test_an_unknown_model_is_openai_404_model_not_found():
    with pytest.raises(ModelNotFound) as err:
        plan_moderation(request("hi", "gpt-4o"), CONFIG)
    status, body = openai_error(err.value.http_status, JSONResponse(err.value.to_body()).body)
    assert status == 404
    assert body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
    assert "gpt-4o" in body["error"]["message"] and "omni-moderation-latest" in body["error"]["message"]


# ----------------------------------------------------------------------------------- request
@pytest.mark.parametrize(("inp", "needle"), [
    (42, "input must be a string, an array of strings, or an array of"),
    ([], "at least 1 item"),
    ([{"type": "audio", "audio": {}}], "does not match any of the expected tags"),
    ([{"type": "text"}], "text"),
    ([{"type": "image_url", "image_url": {"url": "javascript:alert(1)"}}], "http(s) URL"),
    ([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}], "http(s) URL"),
    ([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}], "must be base64"),
    ([{"type": "image_url", "image_url": {"url": "data:text/html;base64,PGgxPg=="}}], "must hold an image"),
    ([{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}], "not valid base64"),
    ([{"type": "image_url", "image_url": {"url": DATA_URL, "detail": "high"}}], "Extra inputs"),
])
def test_malformed_input_is_refused_with_the_reason(inp, needle):
    with pytest.raises(ValidationError) as err:
        request(inp)
    assert needle in str(err.value)
    assert err.value.errors()[0]["loc"][0] == "input"


def test_unknown_request_fields_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs"):
        ModerationRequest.model_validate({"input": "hi", "temperature": 0})


def test_strings_get_one_review_each_and_parts_one_in_all():
    plan = plan_moderation(request(["first ad", "", "third ad"]), CONFIG)
    reviews = review_requests(plan)
    assert [i.field for i in plan.items] == ["input[0]", "input[1]", "input[2]"]
    assert reviews[1] is None  # an empty string has nothing to score
    assert [r.creative.text for r in reviews if r] == ["first ad", "third ad"]
    assert all(r.options.record is False and r.options.summary == "none" for r in reviews if r)
    ids = {r.request_id for r in reviews if r}
    assert len(ids) == 2 and all(i.startswith(plan.id) for i in ids)

    parts = plan_moderation(request([{"type": "text", "text": "Sale today"},
                                     {"type": "image_url", "image_url": {"url": DATA_URL}},
                                     {"type": "text", "text": "on shoes"}]), CONFIG)
    (only,) = review_requests(parts)
    assert len(parts.items) == 1 and parts.items[0].input_types == {"text", "image"}
    assert only.creative.text == "Sale today\non shoes"
    assert [base64.b64decode(i.data) for i in only.creative.images] == [PNG]
    assert parts.items[0].images[0].field == "input[1].image_url"


def test_input_limits_and_model_input_types():
    with pytest.raises(InvalidModerationInput, match="limit is 64"):
        plan_moderation(request(["x"] * 65), CONFIG)
    with pytest.raises(InvalidModerationInput, match="limit is 16"):
        plan_moderation(request([{"type": "image_url", "image_url": {"url": DATA_URL}}] * 17), CONFIG)
    with pytest.raises(InvalidModerationInput, match="accepts text only"):
        plan_moderation(request([{"type": "image_url", "image_url": {"url": DATA_URL}}], "text-moderation-latest"),
                        CONFIG)


# ---------------------------------------------------------------------------- image by URL
@contextlib.asynccontextmanager
async def image_server() -> AsyncIterator[str]:
    async def png(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404, body=PNG, content_type="image/png")

    app = web.Application()
    app.add_routes([web.get("/ad.png", png), web.get("/page", html), web.get("/gone.png", missing)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def fetch_url(path: str, allow: bool, enabled: bool = True) -> str | AdriskError:
    """The image behind input[0].image_url fetched as the ingress would; the base64 or the error."""
    async def main() -> str | AdriskError:
        async with image_server() as host:
            plan = plan_moderation(request([{"type": "image_url", "image_url": {"url": f"http://{host}{path}"}}]),
                                   CONFIG)
            fetch = FetchConfig(enabled=enabled, allow_hosts=[host] if allow else [])
            try:
                fetched = await fetch_images(plan, fetch, CONFIG.limits.max_image_bytes)
            except AdriskError as exc:
                return exc
            return fetched.items[0].images[0].data

    return asyncio.run(main())


def test_an_image_url_is_fetched_when_fetching_is_on():
    assert base64.b64decode(fetch_url("/ad.png", allow=True)) == PNG


@pytest.mark.parametrize(("path", "allow", "enabled", "needle"), [
    ("/ad.png", True, False, "fetching images by URL is off"),
    ("/ad.png", False, True, "non-public address"),  # the SSRF rules: loopback is refused unless allowed
    ("/page", True, True, "not an image"),
    ("/gone.png", True, True, "HTTP 404"),
])
def test_an_image_url_that_cannot_be_used_is_a_400_naming_the_part(path, allow, enabled, needle):
    err = fetch_url(path, allow, enabled)
    assert isinstance(err, InvalidModerationInput) and err.http_status == 400
    assert err.detail.startswith("input[0].image_url.url: ") and needle in err.detail
    assert err.to_body()["param"] == "input"


# ----------------------------------------------------------------------------------- mapping
def test_a_category_is_flagged_at_the_review_threshold_of_its_adrisk_category():
    threshold = CONFIG.thresholds("hate_harassment").review
    at = moderation_result(text_item(), review({"hate_harassment": threshold}), CONFIG)
    below = moderation_result(text_item(), review({"hate_harassment": threshold - 0.01}), CONFIG)
    assert at.flagged and at.categories.hate and at.categories.harassment
    assert at.category_scores.hate == threshold
    assert not below.flagged and not below.categories.hate and below.category_scores.hate == threshold - 0.01


def test_any_of_takes_the_highest_score_and_flags_on_each_categorys_own_threshold():
    # weapons reviews at 0.4, scam_fraud at 0.5: 0.45 flags illicit through weapons, not through scams
    weapons = moderation_result(text_item(), review({"weapons": 0.45, "scam_fraud": 0.3}), CONFIG)
    scam = moderation_result(text_item(), review({"scam_fraud": 0.45}), CONFIG)
    assert weapons.categories.illicit and weapons.categories.illicit_violent
    assert weapons.category_scores.illicit == 0.45
    assert not scam.categories.illicit and not scam.flagged and scam.category_scores.illicit == 0.45


def test_all_of_needs_every_category():
    hateful = moderation_result(text_item(), review({"hate_harassment": 0.95, "violence_gore": 0.2}), CONFIG)
    threat = moderation_result(text_item(), review({"hate_harassment": 0.95, "violence_gore": 0.7}), CONFIG)
    assert hateful.categories.hate and not hateful.categories.hate_threatening
    assert hateful.category_scores.hate_threatening == 0.2
    assert threat.categories.hate_threatening and threat.categories.harassment_threatening
    assert threat.category_scores.hate_threatening == 0.7


def test_thresholds_come_from_the_policy_in_force():
    policy = yaml.safe_load((CONFIG_DIR / "policy" / "v2.yaml").read_text())
    policy.setdefault("thresholds", {})["hate_harassment"] = {"review": 0.8, "reject": 0.9}
    strict = load_config("cpu", {"policy_doc": policy})
    assert moderation_result(text_item(), review({"hate_harassment": 0.7}), CONFIG).categories.hate
    assert not moderation_result(text_item(), review({"hate_harassment": 0.7}), strict).categories.hate


def test_unbacked_categories_are_zero_whatever_adrisk_scored():
    everything = review({c: 1.0 for c in CONFIG.taxonomy.ids})
    result = moderation_result(text_item(), everything, CONFIG).model_dump()
    for key in UNBACKED:
        assert result["categories"][key] is False and result["category_scores"][key] == 0.0
        assert result["category_applied_input_types"][key] == []
    assert all(result["categories"][k] for k in OPENAI_CATEGORIES if k not in UNBACKED)


def test_applied_input_types_follow_what_scored_each_category():
    text_only = moderation_result(text_item(), review(), CONFIG).model_dump()["category_applied_input_types"]
    assert {k: v for k, v in text_only.items() if k not in UNBACKED} == {
        k: ["text"] for k in OPENAI_CATEGORIES if k not in UNBACKED}

    image = ModerationItem("input", "", (ImageRef("input[0].image_url", "AAAA"),))  # an image and no text
    plain = moderation_result(image, review(), CONFIG).model_dump()["category_applied_input_types"]
    # the image models score adult_sexual, weapons and drugs_tobacco_pharma: sexual and illicit see images
    assert plain["sexual"] == ["image"] and plain["illicit"] == ["image"] and plain["illicit/violent"] == ["image"]
    assert plain["hate"] == [] and plain["violence"] == []
    # words OCR read in the image went through the hate head: hate saw the image
    ocr = moderation_result(image, review({"hate_harassment": 0.6}, [("image[0].ocr", "hate_harassment")]), CONFIG)
    assert ocr.model_dump()["category_applied_input_types"]["hate"] == ["image"] and ocr.categories.hate

    both = ModerationItem("input", "caption", (ImageRef("input[1].image_url", "AAAA"),))
    mixed = moderation_result(both, review(), CONFIG).model_dump()["category_applied_input_types"]
    assert mixed["sexual"] == ["text", "image"] and mixed["hate"] == ["text"]


def test_the_result_carries_adrisks_own_scores_and_decision_and_openai_keys():
    answer = review({"scam_fraud": 0.93, "misleading_claims": 0.9})
    body = moderation_result(text_item(), answer, CONFIG).model_dump(mode="json")
    assert list(body["categories"]) == list(OPENAI_CATEGORIES)
    assert body["adrisk"]["scores"] == answer.scores and len(body["adrisk"]["scores"]) == 18
    assert body["adrisk"]["decision"]["policy_version"] == "default@2"
    assert body["flagged"] and body["categories"]["illicit"]
    empty = moderation_result(ModerationItem("input[1]", " "), None, CONFIG)
    assert not empty.flagged and empty.adrisk is None
    assert set(empty.category_scores.model_dump().values()) == {0.0}


def test_a_failed_review_names_the_input_part():
    parts = plan_moderation(request([{"type": "text", "text": "hi"},
                                     {"type": "image_url", "image_url": {"url": DATA_URL}}]), CONFIG)
    with pytest.raises(AdriskError) as err:
        moderation_response(parts, [UnsupportedMediaType("creative.images[0]: format TIFF is not allowed")], CONFIG)
    assert err.value.detail == "input[1].image_url: format TIFF is not allowed"
    status, body = openai_error(err.value.http_status, JSONResponse(err.value.to_body()).body)
    assert status == 400 and body["error"]["param"] == "input"
    strings = plan_moderation(request(["a", "b"]), CONFIG)
    with pytest.raises(Overloaded, match=r"^input\[1\]: queue full"):
        moderation_response(strings, [review(), Overloaded("queue full")], CONFIG)


def test_run_reviews_keeps_results_in_input_order_around_empty_inputs():
    plan = plan_moderation(request(["", "one", "", "two"]), CONFIG)
    seen: list[list[str]] = []

    async def review_many(requests):
        seen.append([r.creative.text for r in requests])
        return [review({"scam_fraud": 0.9 if r.creative.text == "two" else 0.0}) for r in requests]

    outcomes = asyncio.run(run_reviews(plan, review_many))
    assert seen == [["one", "two"]]  # one pipeline call
    assert [o is None for o in outcomes] == [True, False, True, False]
    result = moderation_response(plan, outcomes, CONFIG)
    assert [r.flagged for r in result.results] == [False, False, False, True]
    assert asyncio.run(run_reviews(plan_moderation(request([""]), CONFIG), review_many)) == [None]
    assert len(seen) == 1  # nothing to score: no pipeline call


# ------------------------------------------------------------------------------------ errors
def error_app() -> TestClient:
    """The ingress's error plumbing in miniature: the body limit inside OpenAIErrorShape, and
    adrisk errors answered as the ingress's handler answers them."""
    async def fail(request: Request) -> JSONResponse:
        await request.body()
        raise {"overload": Overloaded("12 ads in flight"), "auth": Unauthenticated("missing API key")}[
            request.query_params["why"]]

    async def ok(_: Request) -> JSONResponse:
        return JSONResponse({"id": "modr-1", "results": []})

    async def adrisk_error(_: Request, exc: AdriskError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.retryable else {"WWW-Authenticate": "Bearer"}
        return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)

    app = Starlette(routes=[Route("/v1/moderations", fail, methods=["POST"]), Route("/v1/review", fail,
                                                                                   methods=["POST"]),
                            Route("/ok/v1/moderations", ok, methods=["POST"])],
                    exception_handlers={AdriskError: adrisk_error})
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(OpenAIErrorShape)
    app.state.max_body_bytes = 2048
    return TestClient(app)


def test_errors_on_the_moderation_route_take_openais_shape_and_keep_their_headers():
    client = error_app()
    shed = client.post("/v1/moderations?why=overload", json={"input": "hi"})
    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert shed.json() == {"error": {"message": "12 ads in flight", "type": "server_error", "param": None,
                                     "code": "overloaded"}}
    denied = client.post("/v1/moderations?why=auth", json={"input": "hi"})
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert denied.json()["error"]["code"] == "unauthenticated"
    big = client.post("/v1/moderations?why=auth", json={"input": "x" * 4096})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert int(big.headers["content-length"]) == len(big.content)
    plain = client.post("/v1/moderations?why=auth", content=b"hi", headers={"content-type": "text/plain"})
    assert plain.status_code == 400 and plain.json()["error"]["type"] == "invalid_request_error"
    assert "application/json" in plain.json()["error"]["message"]


def test_other_routes_and_successes_are_untouched():
    client = error_app()
    review_shed = client.post("/v1/review?why=overload", json={})
    assert review_shed.status_code == 503 and review_shed.json() == {"error": "overloaded",
                                                                     "detail": "12 ads in flight"}
    assert client.post("/ok/v1/moderations", json={}).json() == {"id": "modr-1", "results": []}


def test_validation_errors_become_400_with_the_field_as_param():
    status, body = openai_error(422, b'{"error": "unprocessable", "detail": "input.parts.0.type: bad tag"}')
    assert status == 400 and body["error"]["param"] == "input" and body["error"]["message"].endswith("bad tag")
    status, body = openai_error(422, b'{"error": "unprocessable", "detail": "body: Field required"}')
    assert status == 400 and body["error"]["param"] is None
    status, body = openai_error(408, b"Request timed out")  # a proxy's plain text
    assert status == 408 and body["error"]["message"] == "Request timed out" and body["error"]["code"] is None


def test_the_readme_table_is_the_shipped_mapping():
    from core.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme.split("<!-- moderation-map:begin -->")[1].split("<!-- moderation-map:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        key, sources, _ = (cell.strip() for cell in line.strip("|").split("|"))
        rows[key.strip("`")] = (sources.startswith("all of"), re.findall(r"`([a-z_]+)`", sources))
    assert list(rows) == list(OPENAI_CATEGORIES)
    for key, mapping in CONFIG.moderation.categories.items():
        assert rows[key] == (bool(mapping.all_of), mapping.sources), key
