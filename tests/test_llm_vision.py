"""The VLM path (gpu profile): which pixels the LLM sees, and that the prompt a multimodal processor
renders carries one image placeholder per image passed to the engine, in order.

vLLM's own multimodal input processing imports torchvision, which has no CPU wheel on these
machines, so the engine call itself runs only where the CUDA `vllm` is installed. Up to that
boundary everything here is real: real media, a real HF processor built from the shipped tokenizer.
"""

from __future__ import annotations

import pytest

from core.config import load_config
from models.diagnosis import PromptConfig, ReviewContext, build_messages
from models.llm_engine import render_prompt
from models.llm_vision import cited_video_times, visual_inputs
from tests.media import caption_scene, encode, landscape_photo, rifle_drawing, video_file

CPU = load_config("cpu")
GPU_LLM = {**CPU.llm.model_dump(), "max_images": 4, "image_max_side": 224}
CONFIG = load_config("cpu", {"llm": GPU_LLM})


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> list[tuple[str, str, bytes]]:
    scenes = [caption_scene((20, 20, 160), "SALE"), caption_scene((200, 200, 200), ""), rifle_drawing(),
              caption_scene((10, 120, 10), "END")]
    video = video_file(tmp_path_factory.mktemp("vlm") / "ad.mp4", scenes, seconds_per_scene=2.0)
    return [("image[0]", "image", encode(landscape_photo(size=(1200, 800)))),
            ("video", "video", video),
            ("landing_page.screenshot", "image", encode(landscape_photo(1, size=(390, 844)), "PNG"))]


def test_still_images_come_first_then_cited_and_spread_frames_shrunk(media):
    evidence = [{"source": "video@2.4s", "category": "misleading_claims", "score": 0.3, "detail": ""},
                {"source": "video@4.6s", "category": "weapons", "score": 0.8, "detail": ""}]
    assert cited_video_times(evidence) == [4.6, 2.4]
    visuals = visual_inputs(media, evidence, CONFIG.limits, max_images=4, max_side=224)
    labels = [v.label for v in visuals]
    assert labels[:2] == ["image[0]", "landing_page.screenshot"]
    frame_times = [float(label[len("video@"):-1]) for label in labels[2:]]
    assert len(frame_times) == 2 and frame_times == sorted(frame_times)
    assert any(abs(t - 4.6) <= 0.6 for t in frame_times), "the frame the models cited is shown"
    assert all(max(v.image.size) <= 224 for v in visuals)
    assert visuals[0].image.size == (224, 149)  # aspect kept


def test_budget_is_respected_and_frames_fill_what_stills_leave(media):
    assert [v.label for v in visual_inputs(media, [], CONFIG.limits, max_images=1, max_side=224)] == ["image[0]"]
    video_only = visual_inputs(media[1:2], [], CONFIG.limits, max_images=3, max_side=224)
    assert len(video_only) == 3 and all(v.label.startswith("video@") for v in video_only)


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    """A real LLaVA-style processor: the shipped SmolLM2 tokenizer plus an image token."""
    from transformers import AutoProcessor, AutoTokenizer, CLIPImageProcessor, LlavaProcessor

    tokenizer = AutoTokenizer.from_pretrained(_model_dir())
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    out = tmp_path_factory.mktemp("llava-processor")
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 56},
                                                      crop_size={"height": 56, "width": 56}),
                   tokenizer=tokenizer, chat_template=template, patch_size=14,
                   vision_feature_select_strategy="default").save_pretrained(out)
    return AutoProcessor.from_pretrained(out)


def _model_dir() -> str:
    from models.llm_engine import model_dir

    return model_dir(CONFIG.llm)


def test_processor_renders_one_placeholder_per_image_after_its_label(media, processor):
    visuals = visual_inputs(media, [], CONFIG.limits, max_images=3, max_side=224)
    ctx = ReviewContext(scores={"weapons": 0.8}, action="human_review", decision_categories=["weapons"],
                        evidence=[], untrusted={"creative.text": "Buy now"}, advertiser={}, media=media)
    messages = build_messages(ctx, PromptConfig.load(CONFIG), CONFIG, [v.label for v in visuals])
    engine_input = render_prompt(processor, messages, [v.image for v in visuals])

    prompt = engine_input["prompt"]
    assert engine_input["multi_modal_data"]["image"] == [v.image for v in visuals]
    assert prompt.count("<image>") == len(visuals) == 3
    positions = [prompt.index(f"[{v.label}]<image>") for v in visuals]
    assert positions == sorted(positions)
    assert prompt.index("<image>") < prompt.index("source=creative.text")  # images, then fenced text
    assert prompt.rstrip().endswith("<|im_start|>assistant")
    # The processor expands each placeholder into the vision tokens the model will fill.
    encoded = processor(text=prompt, images=[v.image for v in visuals], return_tensors="np")
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    expanded = int((encoded["input_ids"] == image_id).sum())
    assert expanded % 3 == 0 and expanded // 3 >= (56 // 14) ** 2 - 1  # patches per image (CLS dropped)
    assert encoded["pixel_values"].shape[0] == 3


def test_text_only_models_get_a_plain_prompt_and_no_pixels():
    from transformers import AutoTokenizer

    ctx = ReviewContext(scores={"weapons": 0.8}, action="reject", decision_categories=["weapons"],
                        evidence=[], untrusted={"creative.text": "Buy now"}, advertiser={})
    messages = build_messages(ctx, PromptConfig.load(CPU), CPU)
    assert all(isinstance(m["content"], str) for m in messages)
    prompt = render_prompt(AutoTokenizer.from_pretrained(_model_dir()), messages, [])
    assert isinstance(prompt, str) and "source=creative.text" in prompt and "<image>" not in prompt
