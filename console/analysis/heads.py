"""Meaning heads: linear classifiers over sentence embeddings, trained at development time
(scripts/train-meaning-heads) on thousands of generated and recognised lines, shipped as
resources/meaning/heads.npz.

A head sees far more phrasings than an example bank can hold, and weighs every dimension of
the embedding, where nearest examples only measure closeness; the example banks stay for
rules and labels a team adds itself. The file carries the embedding of a probe sentence, so
heads trained on another embedding model are refused instead of silently misread.
"""

from __future__ import annotations

import logging
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from console.analysis.embeddings import DIM, Embedder

__all__ = ["HEADS_FILE", "HeadsError", "LinearHead", "load_heads", "save_heads",
           "shipped_heads"]

log = logging.getLogger(__name__)

HEADS_FILE = Path(__file__).resolve().parents[2] / "resources" / "meaning" / "heads.npz"
PROBE = "hello, I'm calling about my account"
PROBE_TOLERANCE = 1e-3  # cosine distance; the same model gives ~1e-7


class HeadsError(RuntimeError):
    """The heads file is missing, damaged or made for another embedding model."""


@dataclass(frozen=True)
class LinearHead:
    classes: tuple[str, ...]
    weights: npt.NDArray[np.float32]  # (classes, DIM)
    bias: npt.NDArray[np.float32]  # (classes,)

    def __post_init__(self) -> None:
        if self.weights.shape != (len(self.classes), DIM) or self.bias.shape != (
                len(self.classes),):
            raise HeadsError(f"a head of shape {self.weights.shape} for "
                             f"{len(self.classes)} classes")

    def probabilities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """One row per vector: each class's probability (rows sum to 1)."""
        z = vectors.astype(np.float64) @ self.weights.T.astype(np.float64) + self.bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        out: npt.NDArray[np.float64] = p / p.sum(axis=1, keepdims=True)
        return out

    def index(self, name: str) -> int | None:
        return self.classes.index(name) if name in self.classes else None


def save_heads(path: Path, heads: dict[str, LinearHead], embedder: Embedder) -> None:
    arrays: dict[str, Any] = {"probe": embedder.embed([PROBE])[0]}
    for name, head in heads.items():
        arrays[f"{name}.classes"] = np.array(head.classes)
        arrays[f"{name}.weights"] = head.weights
        arrays[f"{name}.bias"] = head.bias
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_heads(path: Path, embedder: Embedder) -> dict[str, LinearHead]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise HeadsError(f"cannot read the meaning heads {path}: {exc}") from None
    probe = arrays.pop("probe", None)
    if probe is None or probe.shape != (DIM,):
        raise HeadsError(f"{path} has no probe vector")
    if 1.0 - float(embedder.embed([PROBE])[0] @ probe) > PROBE_TOLERANCE:
        raise HeadsError(f"{path} was trained on another sentence-embedding model")
    heads = {}
    for name in sorted({k.rsplit(".", 1)[0] for k in arrays}):
        try:
            heads[name] = LinearHead(tuple(str(c) for c in arrays[f"{name}.classes"]),
                                     arrays[f"{name}.weights"].astype(np.float32),
                                     arrays[f"{name}.bias"].astype(np.float32))
        except KeyError as exc:
            raise HeadsError(f"{path}: head {name} lacks {exc}") from None
    return heads


_shipped: dict[str, LinearHead] | None = None
_shipped_lock = threading.Lock()


def shipped_heads(embedder: Embedder) -> dict[str, LinearHead]:
    """The heads that ship with the console, read once per process; none (logged once) when
    the file cannot be used, and the example banks then work alone."""
    global _shipped
    with _shipped_lock:
        if _shipped is None:
            try:
                from console.resources import resource_dir

                _shipped = load_heads(resource_dir() / "meaning" / "heads.npz", embedder)
            except (HeadsError, FileNotFoundError) as exc:
                log.warning("meaning heads not used: %s", exc)
                _shipped = {}
        return _shipped
