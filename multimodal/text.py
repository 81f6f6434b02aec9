"""Normalise untrusted text and cut long text into encoder-sized chunks."""

from __future__ import annotations

import unicodedata


def normalise(text: str, max_chars: int) -> str:
    """NFKC (folds full-width and styled letters scammers use), drop control chars, squash spaces."""
    text = unicodedata.normalize("NFKC", text[: max_chars * 2])
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return " ".join(text.split())[:max_chars]


def chunk_words(text: str, words_per_chunk: int, max_chunks: int) -> list[str]:
    """Consecutive word windows; the first `max_chunks` are kept (the top of a page matters most)."""
    words = text.split()
    chunks = [
        " ".join(words[i : i + words_per_chunk])
        for i in range(0, min(len(words), words_per_chunk * max_chunks), words_per_chunk)
    ]
    return [c for c in chunks if c]
