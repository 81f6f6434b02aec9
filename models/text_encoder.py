"""Sentence-embedding text encoder (all-MiniLM-L6-v2 on cpu, any sentence-transformers model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.config import TextEncoderConfig, resolve_model_source
from models.base import ModelBackend, configure_torch, offline_if_local, torch_dtype


class SentenceTransformerEncoder(ModelBackend[str, np.ndarray]):
    """Texts → L2-normalised float32 embeddings."""

    def __init__(self, config: TextEncoderConfig, batch_size: int = 64) -> None:
        self.config = config
        self.name = config.name
        self.version = config.version
        self.batch_size = batch_size
        self._model = None

    def setup(self) -> None:
        configure_torch(self.config.torch_threads, self.config.device)
        source = resolve_model_source(self.config.source)
        offline_if_local(source)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(source, device=self.config.device)
        model.max_seq_length = self.config.max_seq_length
        if self.config.dtype != "float32":
            model = model.to(torch_dtype(self.config.dtype))
        model.eval()
        self._model = model

    @property
    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    def predict(self, batch: Sequence[str]) -> list[np.ndarray]:
        return list(self.encode(batch))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("setup() was not called")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
