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
from console.analysis.metrics import conversation_metrics
from console.analysis.redaction import redact
from console.analysis.sentiment import Mood, SentimentScorer
from console.analysis.stt.engine import RATE
from console.analysis.stt.pool import Job
from console.analysis.vad import Segmenter, Utterance, VadSettings
from console.audio.codecs import resample
from console.core.bus import EventBus
from console.core.events import (
    ConversationUpdate,
    Role,
    SentimentSample,
    SpeechActivity,
    TranscriptSegment,
)

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
    spoken: dict[Role, list[tuple[float, float]]] = field(default_factory=dict)
    speaking: dict[Role, bool] = field(default_factory=dict)
    now_s: float = 0.0
    last_speech_s: float = 0.0
    overlap_from: float | None = None


@dataclass(frozen=True)
class _Meta:
    segment_id: str
    role: Role
    start_s: float
    end_s: float
    ended_at: float  # loop time when the utterance ended, for latency figures
    partial: bool = False


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
        # The call the supervisor is looking at (set from the UI thread): it gets tentative
        # text while people are still speaking, about once a `partial_every_s`.
        self.focus: str | None = None
        self.partial_every_s = 1.0
        self._utt_ids: dict[str, str] = {}  # track -> id of the utterance in progress
        self._last_partial: dict[str, float] = {}
        self._finished: set[str] = set()

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
        self._speech_changes(track, segmenter, offset)
        self._timeline(track, segmenter.speaking, offset + segmenter.now_s)
        if segmenter.speaking and track.call_id == self.focus and self.pool is not None:
            self._partial(self.pool, track, segmenter, offset)

    def _state(self, call_id: str) -> _CallState:
        state = self._calls.get(call_id)
        if state is None:
            state = self._calls[call_id] = _CallState(AlertEngine(call_id, self.alert_settings))
        return state

    def _timeline(self, track: TrackState, speaking: bool, now_s: float) -> None:
        """Live overtalk and silence, from both speakers' voice activity."""
        st = self._state(track.call_id)
        st.speaking[track.role] = speaking
        st.now_s = max(st.now_s, now_s)
        if speaking:
            st.last_speech_s = st.now_s
        both = all(st.speaking.get(r, False) for r in Role)
        alerts = []
        if both:
            if st.overlap_from is None:
                st.overlap_from = st.now_s
            alerts += st.alerts.on_overtalk(st.now_s - st.overlap_from, st.now_s)
        else:
            st.overlap_from = None
        if st.last_speech_s and not any(st.speaking.values()):
            alerts += st.alerts.on_silence(st.now_s - st.last_speech_s, st.now_s)
        for alert in alerts:
            self.bus.publish(alert)

    def _speech_changes(self, track: TrackState, segmenter: Segmenter, offset: float) -> None:
        """The window's speaking light follows the voice detector, not the raw level."""
        for at_s, speaking in segmenter.changes:
            self.bus.publish(SpeechActivity(track.call_id, track.role, speaking,
                                            round(offset + at_s, 2)))
        segmenter.changes.clear()

    def set_focus(self, call_id: str | None) -> None:
        self.focus = call_id
        if self.pool is not None:
            self.pool.focus = call_id

    def _segment_id(self, track: TrackState) -> str:
        sid = self._utt_ids.get(track.key)
        if sid is None:
            sid = self._utt_ids[track.key] = f"{track.key}#{next(self._ids)}"
        return sid

    def _partial(self, pool: SttPool, track: TrackState, segmenter: Segmenter,
                 offset: float) -> None:
        now = segmenter.now_s
        if now - self._last_partial.get(track.key, -1e9) < self.partial_every_s:
            return
        utt = segmenter.current()
        if utt is None or utt.end_s - utt.start_s < 0.6:
            return
        self._last_partial[track.key] = now
        sid = self._segment_id(track)
        audio = resample(utt.audio, utt.rate, RATE).astype(np.float32) / 32768.0
        meta = _Meta(sid, track.role, round(offset + utt.start_s, 2),
                     round(offset + utt.end_s, 2), self.loop.time(), partial=True)
        pool.submit(Job(next(self._ids), track.call_id, audio, meta, partial=True, key=sid))

    def track_ended(self, track: TrackState) -> None:
        entry = self._segmenters.pop(track.key, None)
        if entry is not None:
            segmenter, offset = entry
            last = segmenter.flush()
            if last is not None:
                self._utterance(track, last, offset)
            self._speech_changes(track, segmenter, offset)
            self._timeline(track, False, offset + segmenter.now_s)

    def _utterance(self, track: TrackState, utt: Utterance, offset: float) -> None:
        sid = self._utt_ids.pop(track.key, None) or f"{track.key}#{next(self._ids)}"
        self._last_partial.pop(track.key, None)
        if self.pool is None or utt.audio.size < utt.rate // 5:  # under 200 ms: a noise
            return
        audio = resample(utt.audio, utt.rate, RATE).astype(np.float32) / 32768.0
        meta = _Meta(sid, track.role, round(offset + utt.start_s, 2),
                     round(offset + utt.end_s, 2), self.loop.time())
        self.pool.submit(Job(next(self._ids), track.call_id, audio, meta))

    # --- speech workers: text back (collector thread) ------------------------------

    def on_text(self, job: Job, text: str) -> None:
        self.loop.call_soon_threadsafe(self._publish, job.call_id, job.meta, text)

    def _publish(self, call_id: str, meta: _Meta, text: str) -> None:
        text = " ".join(text.split())
        if meta.partial:
            # Tentative text arriving after its final line would only confuse the reader.
            if text and meta.segment_id not in self._finished:
                shown = redact(text).text if self.redaction else text
                self.bus.publish(TranscriptSegment(call_id, meta.segment_id, meta.role,
                                                   meta.start_s, meta.end_s, shown, False))
            return
        self._finished.add(meta.segment_id)
        if len(self._finished) > 10000:
            self._finished.clear()
        if not text:
            return
        if self.redaction:
            text = redact(text).text  # the raw words never reach the bus or the store
        state = self._state(call_id)
        state.spoken.setdefault(meta.role, []).append((meta.start_s, meta.end_s))
        score = self.scorer.score(text)
        mood = state.moods.setdefault(meta.role, Mood())
        smoothed = mood.update(score, meta.end_s, meta.end_s - meta.start_s)
        self.bus.publish(TranscriptSegment(call_id, meta.segment_id, meta.role, meta.start_s,
                                           meta.end_s, text, True, score))
        self.bus.publish(SentimentSample(call_id, meta.role, meta.end_s, smoothed))
        for alert in (state.alerts.on_segment(meta.role, text, meta.end_s)
                      + state.alerts.on_sentiment(meta.role, smoothed, meta.end_s)):
            self.bus.publish(alert)
        self._publish_metrics(call_id, state)
        self.latencies.append(self.loop.time() - meta.ended_at)

    def _publish_metrics(self, call_id: str, state: _CallState) -> None:
        m = conversation_metrics(state.spoken.get(Role.CUSTOMER, []),
                                 state.spoken.get(Role.AGENT, []), state.now_s)
        self.bus.publish(ConversationUpdate(call_id, m.customer_talk_s, m.agent_talk_s,
                                            m.talk_ratio, m.longest_silence_s,
                                            m.overtalk_count, m.overtalk_s))

    def call_ended(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
