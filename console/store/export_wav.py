"""Call audio as a 16-bit stereo WAV: customer left, agent right, at the call's rate.

Every recorded frame is placed by its stream's timestamps when they behave like the
milliseconds Twilio documents, otherwise by its chunk number (lost chunks become silence).
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt

from console.audio.codecs import resample
from console.audio.wav import write_wav
from console.store.queries import find_call
from console.store.recording import HAS_CHUNK, HAS_TS, load_track

__all__ = ["NotRecorded", "call_audio", "export_wav"]

Pcm = npt.NDArray[np.int16]
# Most silence the export puts between two frames (lost audio); more is a counter or clock
# jump, which is closed up.
MAX_GAP_S = 5.0


class NotRecorded(RuntimeError):
    pass


@dataclass
class _Track:
    role: str
    name: str
    rate: int
    pcm: Pcm
    index: npt.NDArray[np.void]
    starts: npt.NDArray[np.int64] | None = None


def _sorted_frames(index: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    if index.size and (index["flags"] & HAS_CHUNK).all():
        order = np.argsort(index["chunk"], kind="stable")
        index = index[order]
        keep = np.ones(index.size, dtype=bool)
        keep[1:] = np.diff(index["chunk"]) != 0  # a chunk recorded twice counts once
        return index[keep]
    if index.size and (index["flags"] & HAS_TS).all():
        return index[np.argsort(index["ts"], kind="stable")]
    return index


def _step(chunks: npt.NDArray[np.int64]) -> int:
    step = 0
    for d in np.unique(np.diff(chunks)):
        step = gcd(step, int(d))
    return step or 1


def _ts_like_ms(t: _Track) -> bool | None:
    """True if timestamps advance by each frame's duration in ms; None if too few frames."""
    idx = t.index
    if idx.size < 2 or not (idx["flags"] & HAS_TS).all():
        return None if idx.size < 2 else False
    dur_ms = idx["n"][:-1] * 1000.0 / t.rate
    if (idx["flags"] & HAS_CHUNK).all():
        frames_between = np.diff(idx["chunk"]) / _step(idx["chunk"])
    else:
        frames_between = np.maximum(1, np.rint(np.diff(idx["ts"]) / np.maximum(dur_ms, 1e-9)))
    expected = frames_between * dur_ms
    steps = np.diff(idx["ts"])
    if steps.min() < 0 or steps.max() > MAX_GAP_S * 1000:
        return False  # stamps that go back or leap: the peer's clock is not the timeline
    ok = np.abs(steps - expected) <= np.maximum(2.0, 0.1 * expected)
    return bool(ok.mean() >= 0.9)


def _place_stream(tracks: list[_Track]) -> None:
    """Fill `starts` (sample offsets from the stream's start) for each track of one stream."""
    verdicts = [_ts_like_ms(t) for t in tracks]
    ts_mode = any(v for v in verdicts) and not any(v is False for v in verdicts)
    first_arrival = min((int(t.index["arrival_ms"].min()) for t in tracks if t.index.size),
                        default=0)
    if ts_mode:
        origin = min(int(t.index["ts"].min()) for t in tracks if t.index.size)
        for t in tracks:
            t.starts = np.rint((t.index["ts"] - origin) * t.rate / 1000.0).astype(np.int64)
            _bound(t, first_arrival)
        return
    with_chunks = [t for t in tracks if t.index.size and (t.index["flags"] & HAS_CHUNK).all()]
    chunk_origin = min((int(t.index["chunk"][0]) for t in with_chunks), default=0)
    for t in tracks:
        idx = t.index
        if not idx.size:
            t.starts = np.zeros(0, np.int64)
            continue
        frame = int(np.median(idx["n"]))
        sizes = idx["n"].astype(np.int64)
        lead = 0
        if t in with_chunks:
            step = _step(idx["chunk"])
            gaps = np.zeros(idx.size, np.int64)
            gaps[1:] = np.maximum(0, np.diff(idx["chunk"]) // step - 1) * frame
            lead = (int(idx["chunk"][0]) - chunk_origin) // step * frame
        else:
            gaps = np.zeros(idx.size, np.int64)
        if lead == 0:
            # A track that began well after its stream and restarted its own counter.
            late_ms = int(idx["arrival_ms"].min()) - first_arrival
            if late_ms > 200:
                lead = round(late_ms * t.rate / 1000 / frame) * frame
        starts = np.zeros(idx.size, np.int64)
        starts[1:] = np.cumsum(sizes[:-1] + gaps[1:])
        t.starts = starts + lead
        _bound(t, first_arrival)


def _bound(t: _Track, first_arrival_ms: int) -> None:
    """Counters and stamps are the peer's word: no silence of more than MAX_GAP_S between two
    frames, and a track starts where its audio arrived if its numbers put it more than that
    away. (Live, the reorder buffer treats such jumps as discontinuities in the same way.)"""
    assert t.starts is not None
    if not t.starts.size:
        return
    cap = int(MAX_GAP_S * t.rate)
    n = t.index["n"].astype(np.int64)
    starts = t.starts
    if starts.size > 1:
        excess = np.maximum(0, starts[1:] - (starts[:-1] + n[:-1]) - cap)
        if excess.any():
            starts = starts.copy()
            starts[1:] -= np.cumsum(excess)
    arrived = round((int(t.index["arrival_ms"].min()) - first_arrival_ms) * t.rate / 1000)
    if abs(int(starts.min()) - arrived) > cap:
        starts = starts - int(starts.min()) + arrived
    t.starts = starts


def _render(t: _Track, rate: int, offset: int) -> Pcm:
    """The track as one continuous signal at `rate`, starting `offset` samples in.

    Frames that follow each other both on the timeline and in the file (nearly all of
    them) are copied as one run, so memory stays at the size of the output."""
    assert t.starts is not None
    idx = t.index
    if not idx.size:
        return np.zeros(0, np.int16)
    n = idx["n"].astype(np.int64)
    starts = t.starts
    offs = idx["offset"].astype(np.int64)
    length = int((starts + n).max())
    out = np.zeros(max(length, 0), np.int16)
    breaks = np.nonzero((starts[1:] != starts[:-1] + n[:-1])
                        | (offs[1:] != offs[:-1] + n[:-1]))[0] + 1
    bounds = np.concatenate([[0], breaks, [idx.size]])
    for a, b in itertools.pairwise(bounds):
        dst, src = int(starts[a]), int(offs[a])
        size = int(offs[b - 1] + n[b - 1] - src)
        if dst < 0:  # a frame stamped before the stream's origin: keep what is after it
            src, size, dst = src - dst, size + dst, 0
        if size > 0:
            out[dst : dst + size] = t.pcm[src : src + size]
    if t.rate != rate:
        out = resample(out, t.rate, rate)
    return np.concatenate([np.zeros(offset, np.int16), out]) if offset else out


def call_audio(conn: sqlite3.Connection, data_dir: Path, call_id: str
               ) -> tuple[npt.NDArray[np.int16], int]:
    """(frames, 2) int16 samples and the sample rate of a recorded call."""
    call = find_call(conn, call_id)
    rows = conn.execute(
        "SELECT t.*, s.started_at AS stream_start FROM tracks t JOIN streams s "
        "ON s.uid = t.stream_uid WHERE t.call_id = ? ORDER BY s.started_at, t.key",
        (call["id"],),
    ).fetchall()
    if not rows or all(r["recording"] is None for r in rows):
        raise NotRecorded(
            f"call {call['id']} has no recorded audio: recording is off by default; "
            "start the engine with `coach-console serve --record` (or turn recording on in "
            "settings) to keep call audio for WAV export")
    by_stream: dict[str, list[_Track]] = {}
    stream_start: dict[str, float] = {}
    for r in rows:
        if r["recording"] is None:
            continue
        pcm, index = load_track(data_dir, r["recording"])
        t = _Track(r["role"], r["name"], r["sample_rate"], pcm, index)
        t.index = _sorted_frames(t.index)
        by_stream.setdefault(r["stream_uid"], []).append(t)
        stream_start[r["stream_uid"]] = r["stream_start"]
    tracks = [t for ts in by_stream.values() for t in ts]
    rate = max(t.rate for t in tracks)
    call_start = min(stream_start.values())
    for _uid, group in by_stream.items():
        _place_stream(group)
    channels: list[Pcm] = []
    for role in ("customer", "agent"):
        mine = [(uid, t) for uid, group in by_stream.items() for t in group if t.role == role]
        # The party's own voice (inbound on their leg) is best; what the other leg hears of
        # them (outbound) is the fallback, and never both, which would double it.
        own = [(u, t) for u, t in mine if t.name == "inbound"] or mine
        rendered = [_render(t, rate, round((stream_start[u] - call_start) * rate))
                    for u, t in own]
        length = max((r.size for r in rendered), default=0)
        mix = np.zeros(length, np.int32)
        for r in rendered:
            mix[: r.size] += r
        channels.append(np.clip(mix, -32768, 32767).astype(np.int16))
    length = max(c.size for c in channels)
    stereo = np.zeros((length, 2), np.int16)
    for i, c in enumerate(channels):
        stereo[: c.size, i] = c
    return stereo, rate


def export_wav(conn: sqlite3.Connection, data_dir: Path, call_id: str, path: Path) -> Path:
    stereo, rate = call_audio(conn, data_dir, call_id)
    write_wav(path, stereo, rate)
    return path
