"""End-to-end review over real HTTP against the real Serve app (cpu profile models)."""

from __future__ import annotations

from core.config import load_config
from tests.media import b64, encode, landscape_photo, rifle_drawing

TAXONOMY = load_config("cpu").taxonomy

SCAM = "Double your bitcoin in 24 hours! Send 1 BTC to our wallet and get 2 BTC back, guaranteed."
RETAIL = "Summer sale: 30% off all running shoes. Free shipping on orders over $50. Shop now."


def review(client, request_id: str, **parts) -> dict:
    resp = client.post("/v1/review", json={"request_id": request_id, **parts})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_ready_and_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    models = ready.json()["models"]
    assert models["text_encoder"].startswith("all-MiniLM-L6-v2@")
    assert any(m.startswith("efficientnet-lite0@") for m in models["image_model"])


def test_every_category_scored_with_decision_and_versions(client):
    body = review(client, "basic-1", creative={"text": RETAIL})
    assert set(body["scores"]) == set(TAXONOMY.ids)
    assert len(body["scores"]) == 18
    assert all(0.0 <= v <= 1.0 for v in body["scores"].values())
    assert body["decision"]["action"] in {"approve", "reject", "deboost", "suspend_account", "human_review"}
    assert body["decision"]["policy_version"] == "default@2"
    assert body["model_versions"]["text_heads"].startswith("text-heads-all-MiniLM-L6-v2@")
    assert {"prepare", "text_encoder", "scorer", "policy", "store", "total"} <= set(body["timings_ms"])


def test_scam_copy_outscores_retail_copy(client):
    scam = review(client, "scam-1", creative={"text": SCAM})
    retail = review(client, "retail-1", creative={"text": RETAIL})
    assert scam["scores"]["scam_fraud"] > retail["scores"]["scam_fraud"] + 0.3
    assert scam["decision"]["action"] in {"human_review", "reject"}
    assert retail["decision"]["action"] == "approve"
    assert any(e["category"] == "scam_fraud" and e["source"] == "creative.text" for e in scam["evidence"])


def test_rifle_image_raises_weapons(client):
    photo = review(client, "img-photo", creative={"images": [{"data": b64(encode(landscape_photo()))}]})
    rifle = review(client, "img-rifle", creative={"images": [{"data": b64(encode(rifle_drawing()))}]})
    assert rifle["scores"]["weapons"] > 0.5 > photo["scores"]["weapons"]
    assert rifle["scores"]["weapons"] > photo["scores"]["weapons"] + 0.4
    weapons_evidence = [e for e in rifle["evidence"] if e["category"] == "weapons"]
    assert weapons_evidence and weapons_evidence[0]["source"] == "image[0]"
    assert "rifle" in weapons_evidence[0]["detail"]


def test_landing_page_url_and_html(client):
    body = review(
        client, "page-1",
        landing_page={
            "url": "http://secure-login.paypa1.com.account-verify.ru/signin/update.php",
            "html": "<html><head><title>PayPal - Verify your account</title></head><body>"
                    "<p>Your account has been limited. Confirm your password and card number.</p>"
                    "<script>var x = 'ignore me';</script></body></html>",
        },
    )
    assert body["scores"]["phishing"] > 0.9
    sources = {e["source"] for e in body["evidence"] if e["category"] == "phishing"}
    assert "landing_page.url" in sources
    assert not any("ignore me" in e["detail"] for e in body["evidence"])


def test_taxonomy_endpoint_names_backing(client):
    body = client.get("/v1/taxonomy").json()
    cats = {c["id"]: c for c in body["categories"]}
    assert len(cats) == 18
    kinds = {k["kind"] for c in cats.values() for k in c["backed_by"]}
    assert {"trained_text_head", "zero_shot_text", "trained_url_head",
            "image:efficientnet_lite", "image:open_nsfw_onnx"} <= kinds
    scam = next(k for k in cats["scam_fraud"]["backed_by"] if k["kind"] == "trained_text_head")
    assert 0.5 < scam["heldout"]["auprc"] <= 1.0
    assert cats["malware_cloaking"]["backed_by"][0]["kind"] == "zero_shot_text"
    # the page head and the page signals are named where they back a category
    assert "page_head" in {k["kind"] for k in cats["phishing"]["backed_by"]}
    assert {"hidden_iframe", "auto_download"} <= {k.get("signal") for k in cats["malware_cloaking"]["backed_by"]}


def test_taxonomy_carries_the_quality_record_for_every_category(client):
    """The same record the README and the eval report show: measured figures, or plainly unmeasured."""
    from core.config import resolve_project_path
    from models.quality import load_record

    config = load_config("cpu")
    expected = load_record(config, resolve_project_path(config.heads.text), resolve_project_path(config.heads.page))
    cats = {c["id"]: c for c in client.get("/v1/taxonomy").json()["categories"]}
    for category, record in expected.items():
        assert cats[category]["quality"] == record.model_dump(), category
    scam = cats["scam_fraud"]["quality"]
    assert scam["measured"] and scam["heldout"][0]["n_pos"] > 100 and 0 < scam["heldout"][0]["auprc"] <= 1
    assert scam["benign_commercial"]["n"] > 1000
    weapons = cats["weapons"]["quality"]
    assert not weapons["measured"] and weapons["status"] == "unmeasured: no labelled data"
    assert weapons["heldout"] == [] and weapons["benign_commercial"]["at_reject"] <= 0.01


def test_unmeasured_category_says_so_in_its_evidence(client):
    body = client.post("/v1/review", json={"request_id": "unmeasured-1", "options": {"summary": "none",
                       "record": False}, "creative": {"text": "Buy assault rifles and ammunition online, "
                                                              "no background check needed"}}).json()
    weapons = [e for e in body["evidence"] if e["category"] == "weapons"]
    assert weapons and all(e["detail"].endswith("[unmeasured: no labelled data]") for e in weapons)
    assert not any(e["detail"].endswith("[unmeasured: no labelled data]")
                   for e in body["evidence"] if e["category"] == "scam_fraud")


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/review" in spec["paths"] and "/v1/review:batch" in spec["paths"]


def test_ad_copy_vs_landing_page_mismatch(client):
    page_shoes = "Running shoes for road and trail. Free returns within 30 days. Contact our store team."
    page_other = "Connect your crypto wallet and enter your seed phrase to claim the token airdrop."
    match = review(client, "mismatch-0", creative={"text": RETAIL}, landing_page={"text": page_shoes})
    drift = review(client, "mismatch-1", creative={"text": RETAIL}, landing_page={"text": page_other})
    src = "creative.text~landing_page"
    drift_ev = [e for e in drift["evidence"] if e["source"] == src and e["category"] == "destination_quality"]
    assert drift_ev and "similarity" in drift_ev[0]["detail"]
    assert not any(e["source"] == src for e in match["evidence"])
    assert drift["scores"]["destination_quality"] > match["scores"]["destination_quality"]
