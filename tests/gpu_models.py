"""Random-weight stand-ins for the gpu profile's models, built with the real architectures' shapes
(no hub, no downloads) into an `ADRISK_MODEL_DIR` layout:

    <dir>/google/siglip-base-patch16-224          SigLIP vision + text towers, base size (768 wide)
    <dir>/sentence-transformers/all-mpnet-base-v2 MPNet base (12 x 768) + mean pooling + normalise
    <dir>/Qwen/Qwen2.5-VL-7B-Instruct             the VLM's processor only (tokenizer, image
                                                  processor, chat template): what the engine's
                                                  prompt rendering reads; no weights

Hyperparameters are the published configs' (set here in code); the tokenizers are trained on a few
hundred sentences of this project's taxonomy and prompt text, so their vocabularies are small but
their kinds are the real ones (SentencePiece for SigLIP, WordPiece for MPNet, byte-level BPE with
Qwen's special tokens). Weights are random and seeded: shapes, dtypes and code paths are real,
scores are not. tests/test_gpu_profile_e2e.py trains heads and serves the gpu profile on them.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.config import CONFIG_DIR

SIGLIP = "google/siglip-base-patch16-224"
MPNET = "sentence-transformers/all-mpnet-base-v2"
QWEN_VL = "Qwen/Qwen2.5-VL-7B-Instruct"
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 56 * 56, 28 * 28 * 16384  # Qwen2.5-VL's published bounds
LOGIT_SCALE, LOGIT_BIAS = 100.0, -10.0  # set in the stand-in SigLIP; of a trained checkpoint's magnitude
HEADS = "adrisk/text-heads/all-mpnet-base-v2"  # where deployments/kuberay/train-heads-job.yaml writes them

# Qwen2-VL's special tokens (ChatML turns, vision markers) as its tokenizer names them.
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
# Qwen2-VL's chat format, written here: ChatML turns; an image item is a vision-start / image-pad /
# vision-end triple the processor expands to the image's patch tokens; a default system turn when
# the caller gives none.
QWEN_VL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class ModelDir:
    root: Path

    @property
    def siglip(self) -> Path:
        return self.root / SIGLIP

    @property
    def mpnet(self) -> Path:
        return self.root / MPNET

    @property
    def qwen_vl(self) -> Path:
        return self.root / QWEN_VL

    @property
    def heads(self) -> Path:
        return self.root / HEADS


def corpus() -> list[str]:
    """Sentences to train the stand-in tokenizers on: the taxonomy's names, descriptions and
    zero-shot prompts and the LLM prompt's policy text (English of the domain the models read)."""
    import yaml

    taxonomy = yaml.safe_load((CONFIG_DIR / "taxonomy.yaml").read_text())
    prompt = yaml.safe_load((CONFIG_DIR / "llm" / "prompt-v1.yaml").read_text())
    lines = [prompt["system"], *prompt["policy_text"].values()]
    for category in taxonomy["categories"]:
        lines += [category["name"], category["description"], *category.get("zero_shot_prompts", [])]
    return [" ".join(line.split()) for line in lines if line.strip()]


def build_siglip(out: Path, image_size: int = 224, seed: int = 0) -> Path:
    """siglip-base-patch16-224's shapes: both towers 12 layers x 768 (MLP 3072, 12 heads), patch 16,
    text length 64, vocabulary 32000; a SentencePiece tokenizer and SigLIP's image processor."""
    import sentencepiece as spm
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, SiglipTokenizer

    out.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_prefix=str(out / "spiece"), vocab_size=800, model_type="unigram",
        hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
        unk_piece="<unk>", minloglevel=2, num_threads=1,
    )
    tokenizer = SiglipTokenizer(vocab_file=str(out / "spiece.model"), model_max_length=64)
    (out / "spiece.vocab").unlink()
    image_processor = SiglipImageProcessor(size={"height": image_size, "width": image_size})
    base = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
    config = SiglipConfig(
        text_config={**base, "vocab_size": 32000, "max_position_embeddings": 64, "pad_token_id": 0,
                     "bos_token_id": None, "eos_token_id": 1},
        vision_config={**base, "image_size": image_size, "patch_size": 16},
    )
    torch.manual_seed(seed)
    model = SiglipModel(config)
    # A trained checkpoint's temperature and bias (init is scale 1, bias 0): random towers' cosines
    # then spread into scores the way a trained model's do, instead of all sitting at 1/n.
    model.logit_scale.data.fill_(math.log(LOGIT_SCALE))
    model.logit_bias.data.fill_(LOGIT_BIAS)
    model.save_pretrained(out)
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return out


def build_mpnet(out: Path, layers: int = 12, seed: int = 0) -> Path:
    """all-mpnet-base-v2's shapes: MPNet base (12 layers x 768, MLP 3072, 12 heads, 514 positions,
    32 relative-attention buckets, vocabulary 30527), mean pooling and L2 normalisation, as a
    sentence-transformers directory. `layers` below 12 keeps every width and cuts only the depth."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    out.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="<unk>"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.decoder = decoders.WordPiece()
    wordpiece.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=4000, special_tokens=specials))
    wordpiece.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(t, wordpiece.token_to_id(t)) for t in ("<s>", "</s>")],
    )
    hf_dir = out.with_name(out.name + ".hf")  # the plain transformers model, folded into `out` below
    tokenizer = MPNetTokenizer(tokenizer_object=wordpiece, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                               cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                               model_max_length=512)
    config = MPNetConfig(vocab_size=30527, hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=514, relative_attention_num_buckets=32,
                         pad_token_id=wordpiece.token_to_id("<pad>"), bos_token_id=0, eos_token_id=2)
    torch.manual_seed(seed)
    MPNetModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=384)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu").save(str(out))
    shutil.rmtree(hf_dir)
    return out


def build_qwen_vl_processor(out: Path) -> Path:
    """Qwen2.5-VL's processor files as its model directory ships them: the image processor
    (Qwen2VLImageProcessor: patch 14, merge 2, temporal patch 2, CLIP mean/std, the published
    min/max pixels; the profile's `mm_processor_kwargs` narrow max_pixels per call), a byte-level BPE
    tokenizer with Qwen's special tokens, the chat template (tokenizer_config.json and
    chat_template.json) and `processor_class: Qwen2_5_VLProcessor`. No weights: nothing here runs the model.

    Written file by file: transformers builds a Qwen2_5_VLProcessor object only with its video
    processor, which needs torchvision (not installed on CPU machines here; the gpu image has it).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer, Qwen2VLImageProcessor

    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus(), trainers.BpeTrainer(
        vocab_size=2000, special_tokens=QWEN_SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = Qwen2Tokenizer(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                               unk_token=None, bos_token=None, model_max_length=32768)
    tokenizer.chat_template = QWEN_VL_TEMPLATE
    tokenizer.save_pretrained(out)
    Qwen2VLImageProcessor(min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS, patch_size=14,
                          temporal_patch_size=2, merge_size=2).save_pretrained(out)
    preprocessor = json.loads((out / "preprocessor_config.json").read_text())
    preprocessor["processor_class"] = "Qwen2_5_VLProcessor"
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    (out / "chat_template.json").write_text(json.dumps({"chat_template": QWEN_VL_TEMPLATE}) + "\n")
    return out


def build_model_dir(root: Path, mpnet_layers: int = 12, siglip_image_size: int = 224) -> ModelDir:
    models = ModelDir(root)
    build_siglip(models.siglip, siglip_image_size)
    build_mpnet(models.mpnet, mpnet_layers)
    build_qwen_vl_processor(models.qwen_vl)
    (root / "README").write_text(json.dumps({"built_by": "tests/gpu_models.py", "weights": "random"}) + "\n")
    return models


def serve_main(argv: list[str]) -> int:
    """`python -m tests.gpu_models serve OVERRIDES_JSON SERVE_CONFIG PORT GRPC_PORT`: the gpu profile
    through commands/launcher.py in a process (and Ray cluster) of its own, so a test session that
    already runs the cpu service in-process can run this one beside it. Prints `READY <url>`, serves
    until its stdin closes, then stops."""
    import sys

    from commands.launcher import start_local, stop_local

    overrides_json, serve_config, port, grpc_port = argv
    try:
        url = start_local(profile="gpu", serve_config=serve_config, host="127.0.0.1", port=int(port),
                          grpc_port=int(grpc_port), overrides=json.loads(overrides_json), num_cpus=2,
                          ready_timeout_s=240)
        print(f"READY {url}", flush=True)
        sys.stdin.read()
    finally:
        stop_local()
    return 0


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] != ["serve"]:
        raise SystemExit("usage: python -m tests.gpu_models serve OVERRIDES_JSON SERVE_CONFIG PORT GRPC_PORT")
    raise SystemExit(serve_main(sys.argv[2:]))
