"""POST /v1/moderations on the running service, driven by the official `openai` package exactly as
an OpenAI moderation client would: text, arrays of text, image parts, errors, Bearer keys."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest
from openai import OpenAI

from core.config import load_config
from serving.auth import hash_key, new_key, write_keys_file
from tests.media import encode, landscape_photo, rifle_drawing

PREFIX = "/moderation"
SCORE_KEY, READ_KEY = new_key(), new_key()
SCAM = "Double your bitcoin in 24 hours! Send 1 BTC to our wallet and get 2 BTC back, guaranteed."
HATE = "All immigrants are filthy vermin. They are subhuman and should be wiped out."
RETAIL = "Summer sale: 30% off all running shoes. Free shipping on orders over $50. Shop now."
UNBACKED = ("self-harm/intent", "self-harm/instructions", "violence/graphic")
CONFIG = load_config("cpu")


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


RIFLE_JPEG = data_url(encode(rifle_drawing()), "image/jpeg")
PHOTO_PNG = data_url(encode(landscape_photo(seed=5), "PNG"), "image/png")


@pytest.fixture(scope="module")
def base_url(service, tmp_path_factory) -> str:
    """An ingress of its own (same model replicas) that requires API keys: a `score` key and a
    `read` key, presented by the openai client as Authorization: Bearer."""
    from commands.launcher import run_extra_ingress

    folder = tmp_path_factory.mktemp("moderation")
    keys_file = folder / "keys.yaml"
    write_keys_file(keys_file, [{"name": "scorer", "roles": ["score"], "sha256": hash_key(SCORE_KEY)},
                                {"name": "reader", "roles": ["read"], "sha256": hash_key(READ_KEY)}])
    run_extra_ingress(
        "adrisk-moderation", PREFIX,
        overrides={"auth": {"keys_file": str(keys_file)}, "store": {"path": str(folder / "d.sqlite3")},
                   "llm": None},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    return f"{service.url}{PREFIX}/v1"


@pytest.fixture(scope="module")
def client(base_url) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=SCORE_KEY, max_retries=0, timeout=120)


def as_dict(result) -> dict:
    return result.to_dict()


def test_a_scam_string_is_flagged_illicit_with_adrisks_verdict(client):
    resp = client.moderations.create(model="omni-moderation-latest", input=SCAM)
    assert resp.id.startswith("modr-") and resp.model == "adrisk-omni-moderation"
    (result,) = resp.results
    assert result.flagged and result.categories.illicit
    assert result.category_scores.illicit >= CONFIG.thresholds("scam_fraud").review
    assert result.category_applied_input_types.illicit == ["text"]
    assert not result.categories.sexual and not result.categories.hate
    adrisk = as_dict(result)["adrisk"]
    assert len(adrisk["scores"]) == 18 and adrisk["scores"]["scam_fraud"] == result.category_scores.illicit
    assert adrisk["decision"]["action"] in {"human_review", "reject"}
    assert "scam_fraud" in adrisk["decision"]["categories"]


def test_an_array_of_strings_gets_one_result_each_in_order(client):
    resp = client.moderations.create(model="text-moderation-latest", input=[SCAM, HATE, RETAIL])
    assert resp.model == "adrisk-text-moderation"
    scam, hate, retail = resp.results
    assert scam.categories.illicit and not scam.categories.hate
    assert hate.flagged and hate.categories.hate and hate.categories.harassment
    assert hate.category_scores.hate >= CONFIG.thresholds("hate_harassment").review
    assert not retail.flagged
    retail_body = as_dict(retail)
    assert not any(retail_body["categories"].values())
    assert retail_body["adrisk"]["decision"]["action"] == "approve"
    for body in (as_dict(r) for r in resp.results):
        assert list(body["categories"]) == list(body["category_scores"]) == list(body["category_applied_input_types"])
        assert len(body["categories"]) == 13
        assert all(body["category_scores"][k] == 0 and body["category_applied_input_types"][k] == [] for k in UNBACKED)


def test_image_parts_are_one_input_scored_on_text_and_pixels(client):
    resp = client.moderations.create(model="omni-moderation-latest", input=[
        {"type": "text", "text": "Big discounts this weekend only."},
        {"type": "image_url", "image_url": {"url": RIFLE_JPEG}},
    ])
    (rifle,) = resp.results
    assert rifle.flagged and rifle.categories.illicit_violent and rifle.categories.illicit
    assert rifle.category_applied_input_types.illicit_violent == ["text", "image"]
    assert rifle.category_applied_input_types.hate == ["text"]
    assert as_dict(rifle)["adrisk"]["scores"]["weapons"] == rifle.category_scores.illicit_violent

    (photo,) = client.moderations.create(model="omni-moderation-latest", input=[
        {"type": "image_url", "image_url": {"url": PHOTO_PNG}},
    ]).results
    assert not photo.flagged
    assert photo.category_applied_input_types.sexual == ["image"]
    assert photo.category_scores.illicit_violent < CONFIG.thresholds("weapons").review


def test_no_model_means_the_configured_default(base_url):
    with httpx.Client(timeout=120) as raw:
        resp = raw.post(f"{base_url}/moderations", json={"input": RETAIL},
                        headers={"authorization": f"Bearer {SCORE_KEY}"})
    assert resp.status_code == 200 and resp.json()["model"] == "adrisk-omni-moderation"


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.moderations.create(model="gpt-4o", input="hello")
    assert err.value.code == "model_not_found" and err.value.param == "model"
    assert err.value.type == "invalid_request_error" and "gpt-4o" in err.value.message


@pytest.mark.parametrize(("model", "inp", "needle"), [
    ("text-moderation-latest", [{"type": "image_url", "image_url": {"url": PHOTO_PNG}}], "accepts text only"),
    ("omni-moderation-latest", [{"type": "image_url", "image_url": {"url": "https://example.com/ad.png"}}],
     "fetching images by URL is off"),
    ("omni-moderation-latest", [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}], "base64"),
    ("omni-moderation-latest", [{"type": "image_url", "image_url": {"url": "data:image/png;base64,"
                                                                    + base64.b64encode(b"not an image").decode()}}],
     "input[0].image_url"),
    ("omni-moderation-latest", [], "at least 1 item"),
    ("omni-moderation-latest", [{"type": "video", "video": {}}], "expected tags"),
])
def test_bad_input_is_a_400_invalid_request_error(client, model, inp, needle):
    with pytest.raises(openai.BadRequestError) as err:
        client.moderations.create(model=model, input=inp)
    assert err.value.status_code == 400 and err.value.type == "invalid_request_error"
    assert err.value.param == "input" and needle in err.value.message


def test_an_oversized_body_is_413_in_openais_shape(client):
    with pytest.raises(openai.APIStatusError) as err:
        client.moderations.create(model="omni-moderation-latest", input="a" * (33 * 1024 * 1024))
    assert err.value.status_code == 413 and err.value.code == "payload_too_large"


def test_bearer_keys_and_the_score_role(base_url):
    with pytest.raises(openai.AuthenticationError) as err:
        OpenAI(base_url=base_url, api_key="ak_not-a-key", max_retries=0).moderations.create(input="hi")
    assert err.value.code == "unauthenticated" and err.value.response.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(openai.PermissionDeniedError) as err:
        OpenAI(base_url=base_url, api_key=READ_KEY, max_retries=0).moderations.create(input="hi")
    assert "score" in err.value.message
    with httpx.Client(timeout=60) as raw:  # the body itself, as a non-openai client reads it
        missing = raw.post(f"{base_url}/moderations", json={"input": "hi"})
    assert missing.status_code == 401
    assert missing.json() == {"error": {"message": missing.json()["error"]["message"],
                                        "type": "invalid_request_error", "param": None, "code": "unauthenticated"}}
