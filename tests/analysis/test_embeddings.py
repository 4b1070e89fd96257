"""Sentence embeddings with NumPy: the real all-MiniLM-L6-v2 weights, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from console.analysis.embeddings import DIM, Embedder, EmbeddingError, default_embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return default_embedder()


def test_paraphrases_are_close_and_unrelated_lines_are_not(embedder: Embedder) -> None:
    v = embedder.embed([
        "I want to cancel my subscription",
        "please close my account, I'm leaving you",
        "cancel my sub scription please",  # as a recogniser may split it
        "what a lovely day for a picnic",
    ])
    assert v.shape == (4, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.3 and sims[0, 2] > 0.45
    assert sims[0, 3] < 0.1 and sims[1, 3] < 0.15


def test_batches_give_what_single_lines_give(embedder: Embedder) -> None:
    lines = ["short", "a much longer line about a refund that never arrived on my card",
             "", "the third one"]
    together = embedder.embed(lines)
    for i, line in enumerate(lines):
        assert np.abs(embedder.embed([line])[0] - together[i]).max() < 1e-5
    assert embedder.embed([]).shape == (0, DIM)


def test_known_vector(embedder: Embedder) -> None:
    """The first values of one sentence's vector, as this forward pass computed them; it was
    checked once against an independent int8 ONNX export of the same model (cosine 0.999)."""
    v = embedder.embed(["I want to cancel my subscription"])[0]
    assert v[:4] == pytest.approx(KNOWN, abs=2e-4)


def test_missing_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="cannot read"):
        (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
        (tmp_path / "tokenizer.json").write_text("{}")
        Embedder(tmp_path)


KNOWN = [-0.01847, 0.00426, -0.01881, -0.03229]


def test_example_banks_are_embedded_once(embedder: Embedder) -> None:
    lines = [f"an example line number {i}" for i in range(5)]
    first = embedder.embed_examples(lines)
    assert np.array_equal(first, embedder.embed(lines))
    calls = []
    real = embedder.embed
    embedder.embed = lambda texts: calls.append(list(texts)) or real(texts)  # type: ignore[method-assign]
    try:
        again = embedder.embed_examples([*lines, "one new line"])
    finally:
        embedder.embed = real  # type: ignore[method-assign]
    assert calls == [["one new line"]]  # only what was not known
    assert np.array_equal(again[:5], first)
