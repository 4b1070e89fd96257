"""The analysis pipeline on the engine thread: each track's decoded audio through VAD into
utterances, utterances to the speech workers, and their text through redaction, sentiment
and the alert rules onto the bus as transcript segments, sentiment samples and alerts."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from console.analysis.alerts import AlertEngine, AlertSettings
from console.analysis.redaction import redact
from console.analysis.sentiment import Mood, SentimentScorer
from console.analysis.stt.engine import RATE
from console.analysis.stt.pool import Job
from console.analysis.vad import Segmenter, Utterance, VadSettings
from console.audio.codecs import resample
from console.core.bus import EventBus
from console.core.events import Role, SentimentSample, TranscriptSegment

if TYPE_CHECKING:
    from console.analysis.stt.pool import SttPool
    from console.core.registry import TrackState

__all__ = ["AnalysisPipeline"]

log = logging.getLogger("console.analysis")
Pcm = npt.NDArray[np.int16]


@dataclass
class _CallState:
    alerts: AlertEngine
    moods: dict[Role, Mood] = field(default_factory=dict)


@dataclass(frozen=True)
class _Meta:
    segment_id: str
    role: Role
    start_s: float
    end_s: float
    ended_at: float  # loop time when the utterance ended, for latency figures


class AnalysisPipeline:
    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop, *,
                 redaction: bool = True, alerts: AlertSettings | None = None,
                 vad: VadSettings | None = None) -> None:
        self.bus = bus
        self.loop = loop
        self.redaction = redaction
        self.alert_settings = alerts or AlertSettings()
        self.vad_settings = vad or VadSettings()
        self.scorer = SentimentScorer()
        self.pool: SttPool | None = None
        self._segmenters: dict[str, tuple[Segmenter, float]] = {}
        self._calls: dict[str, _CallState] = {}
        self._ids = itertools.count(1)
        self.latencies: list[float] = []  # utterance end -> text published, seconds

    # --- engine thread: audio in ------------------------------------------------------

    def feed(self, track: TrackState, pcm: Pcm) -> None:
        entry = self._segmenters.get(track.key)
        if entry is None:
            # Where this track starts on its call's timeline.
            offset = track.call_offset_s
            entry = self._segmenters[track.key] = (Segmenter(track.rate, self.vad_settings),
                                                   offset)
        segmenter, offset = entry
        for utt in segmenter.feed(pcm):
            self._utterance(track, utt, offset)

    def track_ended(self, track: TrackState) -> None:
        entry = self._segmenters.pop(track.key, None)
        if entry is not None:
            last = entry[0].flush()
            if last is not None:
                self._utterance(track, last, entry[1])

    def _utterance(self, track: TrackState, utt: Utterance, offset: float) -> None:
        if self.pool is None or utt.audio.size < utt.rate // 5:  # under 200 ms: a noise
            return
        audio = resample(utt.audio, utt.rate, RATE).astype(np.float32) / 32768.0
        n = next(self._ids)
        meta = _Meta(f"{track.key}#{n}", track.role, round(offset + utt.start_s, 2),
                     round(offset + utt.end_s, 2), self.loop.time())
        self.pool.submit(Job(n, track.call_id, audio, meta))

    # --- speech workers: text back (collector thread) ------------------------------

    def on_text(self, job: Job, text: str) -> None:
        self.loop.call_soon_threadsafe(self._publish, job.call_id, job.meta, text)

    def _publish(self, call_id: str, meta: _Meta, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if self.redaction:
            text = redact(text).text  # the raw words never reach the bus or the store
        state = self._calls.get(call_id)
        if state is None:
            state = self._calls[call_id] = _CallState(AlertEngine(call_id, self.alert_settings))
        score = self.scorer.score(text)
        mood = state.moods.setdefault(meta.role, Mood())
        smoothed = mood.update(score, meta.end_s, meta.end_s - meta.start_s)
        self.bus.publish(TranscriptSegment(call_id, meta.segment_id, meta.role, meta.start_s,
                                           meta.end_s, text, True, score))
        self.bus.publish(SentimentSample(call_id, meta.role, meta.end_s, smoothed))
        for alert in (state.alerts.on_segment(meta.role, text, meta.end_s)
                      + state.alerts.on_sentiment(meta.role, smoothed, meta.end_s)):
            self.bus.publish(alert)
        self.latencies.append(self.loop.time() - meta.ended_at)

    def call_ended(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
