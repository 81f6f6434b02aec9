"""Tiny random-weight CLIP and SigLIP models with their processors, built from transformers configs
into a directory (no hub): the zero-shot image backend's code path at test speed. Weights are seeded,
scores mean nothing."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from core.config import Taxonomy


def tiny_clip_dir(root: Path) -> str:
    """A CLIP (2 layers x 32 wide, 32-px images, a byte-level vocabulary with no merges) and its processor."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[]),
    )
    torch.manual_seed(1)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    # The text tower pools at the first end-of-text token: it must be this vocabulary's.
    ids = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
           "pad_token_id": vocab["<|endoftext|>"]}
    config = CLIPConfig(text_config={**small, **ids, "vocab_size": len(vocab), "max_position_embeddings": 64},
                        vision_config={**small, "image_size": 32, "patch_size": 8}, projection_dim=16)
    out = root / "tiny-clip"
    CLIPModel(config).save_pretrained(out)
    processor.save_pretrained(out)
    return str(out)


def tiny_siglip_dir(root: Path, taxonomy: Taxonomy) -> str:
    """A SigLIP of the same size with a SentencePiece tokenizer trained on the taxonomy's prompts, and
    a trained model's logit_scale (20) and logit_bias (-5) instead of init's 1 and 0."""
    import sentencepiece as spm
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, SiglipTokenizer

    out = root / "tiny-siglip"
    out.mkdir()
    lines = [p for c in taxonomy.categories for p in [c.name, c.description, *c.zero_shot_prompts]]
    lines += ["an advertisement image showing:"] * 5
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(out / "spiece"), vocab_size=300, model_type="unigram",
        hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>",
        unk_piece="<unk>", minloglevel=2, num_threads=1)
    (out / "spiece.vocab").unlink()
    processor = SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}),
                                tokenizer=SiglipTokenizer(vocab_file=str(out / "spiece.model"), model_max_length=16))
    small = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = SiglipConfig(
        text_config={**small, "vocab_size": 300, "max_position_embeddings": 16, "pad_token_id": 0,
                     "bos_token_id": None, "eos_token_id": 1},
        vision_config={**small, "image_size": 32, "patch_size": 8})
    torch.manual_seed(2)
    model = SiglipModel(config)
    model.logit_scale.data.fill_(math.log(20.0))
    model.logit_bias.data.fill_(-5.0)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return str(out)
