"""Call recordings: per track, the decoded PCM appended as it arrives plus an index of the
frames it came in, so the export can lay every frame where its chunk/timestamp puts it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from console.store.files import open_private_append, private_dir

__all__ = ["HAS_CHUNK", "HAS_TS", "INDEX_DTYPE", "TrackFiles", "load_track", "track_paths"]

HAS_CHUNK, HAS_TS = 1, 2
INDEX_DTYPE = np.dtype([
    ("chunk", "<i8"),
    ("ts", "<i8"),
    ("arrival_ms", "<i8"),
    ("offset", "<i8"),  # first sample of this frame in the .pcm file
    ("n", "<i4"),
    ("flags", "<i4"),
])

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str, limit: int = 40) -> str:
    # surrogatepass: a peer's id may hold lone surrogates (JSON \ud800); other text hashes
    # exactly as before, so existing recordings keep their paths.
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{_SAFE.sub('_', text)[:limit]}-{digest}"


def track_paths(call_id: str, track_key: str) -> str:
    """Path of a track's recording, relative to the data dir, without the suffix."""
    return f"recordings/{_safe(call_id)}/{_safe(track_key, 60)}"


@dataclass
class TrackFiles:
    """Append-only writer for one track, owned by the store writer thread. The files stay
    open while the stream lives; writes are unbuffered so a crash of the app (not of the
    machine) loses nothing that was written."""

    pcm_path: Path
    idx_path: Path
    samples: int = 0
    _pcm: BinaryIO | None = None
    _idx: BinaryIO | None = None

    @classmethod
    def open(cls, base: Path) -> TrackFiles:
        """Open (or reopen) a track's files under recordings/<call>/; the folders are made
        0700 and the files 0600 as they are created."""
        private_dir(base.parent.parent)  # recordings/
        private_dir(base.parent)  # recordings/<call>/
        pcm, idx = base.with_suffix(".pcm"), base.with_suffix(".idx")
        samples = pcm.stat().st_size // 2 if pcm.exists() else 0
        pcm_file = open_private_append(pcm)
        try:
            idx_file = open_private_append(idx)
        except OSError:
            pcm_file.close()
            raise
        return cls(pcm, idx, samples, pcm_file, idx_file)

    def close(self) -> None:
        for f in (self._pcm, self._idx):
            if f is not None:
                f.close()
        self._pcm = self._idx = None

    def append(self, batches: list[tuple[list[int | None], list[int | None], int, list[int],
                                         npt.NDArray[np.int16]]]) -> int:
        """Write batches of frames: their samples to .pcm, one index record each to .idx.
        A chunk or timestamp outside int64 is recorded as absent (the export then places the
        frame by its neighbours); returns how many values were dropped that way."""
        chunks = [c for b in batches for c in b[0]]
        stamps = [t for b in batches for t in b[1]]
        arrivals = [b[2] for b in batches for _ in b[3]]
        n = np.fromiter((x for b in batches for x in b[3]), dtype=np.int64, count=len(chunks))
        idx = np.zeros(n.size, dtype=INDEX_DTYPE)
        idx["n"] = n
        idx["offset"] = self.samples + np.cumsum(n) - n
        idx["arrival_ms"] = _int64(arrivals)[0]
        idx["chunk"], has_chunk, bad_chunks = _int64(chunks)
        idx["ts"], has_ts, bad_stamps = _int64(stamps)
        idx["flags"] = HAS_CHUNK * has_chunk + HAS_TS * has_ts
        pcm = b"".join(np.ascontiguousarray(b[4], dtype="<i2").tobytes() for b in batches)
        # PCM first: an index record never points past the samples on disk.
        if self._pcm is None or self._idx is None:
            raise OSError(f"recording {self.pcm_path.name} is closed")
        _write_all(self._pcm, pcm)
        _write_all(self._idx, idx.tobytes())
        self.samples += int(n.sum())
        return bad_chunks + bad_stamps


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _int64(values: Sequence[int | None]
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int]:
    """Values as int64 with None as 0, a 0/1 mask of those present, and how many were out
    of range (treated as absent). The common case is one C-level conversion."""
    present = np.fromiter((v is not None for v in values), dtype=np.int32, count=len(values))
    try:
        return (np.array([v or 0 for v in values], dtype=np.int64), present, 0)
    except OverflowError:
        fitted = [v if v is not None and _I64_MIN <= v <= _I64_MAX else None for v in values]
        bad = sum(1 for v, f in zip(values, fitted, strict=True) if v is not None and f is None)
        ok = np.fromiter((v is not None for v in fitted), dtype=np.int32, count=len(values))
        return np.array([v or 0 for v in fitted], dtype=np.int64), ok, bad


def _write_all(f: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = f.write(view)
        if not written:
            raise OSError("short write")
        view = view[written:]


def load_track(data_dir: Path, relative: str
               ) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.void]]:
    base = data_dir / relative
    pcm_path, idx_path = base.with_suffix(".pcm"), base.with_suffix(".idx")
    if not pcm_path.exists() or not idx_path.exists():
        return np.zeros(0, np.int16), np.zeros(0, INDEX_DTYPE)
    pcm = np.fromfile(pcm_path, dtype="<i2").astype(np.int16)
    raw = idx_path.read_bytes()
    raw = raw[: len(raw) - len(raw) % INDEX_DTYPE.itemsize]  # a torn last record after a crash
    index = np.frombuffer(raw, dtype=INDEX_DTYPE).copy()
    # Keep only frames whose samples made it to disk.
    index = index[index["offset"] + index["n"] <= pcm.size]
    return pcm, index
