"""The analysis pipeline on the engine thread: each track's decoded audio through VAD into
utterances, utterances to the speech workers, and their text through redaction, sentiment
and the alert rules onto the bus as transcript segments, sentiment samples and alerts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import re
import secrets
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from console.analysis.alerts import AlertEngine, AlertSettings
from console.analysis.meaning import Meaning, MeaningWorker
from console.analysis.metrics import conversation_metrics
from console.analysis.redaction import CallRedactor
from console.analysis.sentiment import Mood, SentimentScorer
from console.analysis.stt.engine import RATE
from console.analysis.stt.pool import Job
from console.analysis.topics import DEFAULT_TOPICS, OTHER, Topic, TopicTracker
from console.analysis.vad import Segmenter, Utterance, VadSettings
from console.audio.codecs import resample
from console.core.bus import EventBus
from console.core.events import (
    CallTopic,
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
LATENCY_WINDOW = 10_000  # latency figures kept (bench/transcribe.py reads them)
LANGUAGE_SURE = 0.6  # a track's language is settled by a detection this sure
MAX_TRACKS_KEPT = 10_000  # languages and originals remembered (cleared beyond)
_DIGIT_RUN = re.compile(r"\d{3,}")


def _mask_digits(text: str) -> str:
    """Runs of digits hidden, for words that reach no redactor (another language's words,
    an alert's evidence read before a correction)."""
    return _DIGIT_RUN.sub(lambda m: "#" * len(m.group(0)), text)
Pcm = npt.NDArray[np.int16]
_ROLE_COUNT = len(Role)
# An ended call's memory (talk figures, sentiment trend, alert cool-downs, topic, redaction)
# outlives it: the speech workers are seconds behind, more on a loaded machine, and lines
# that come after the end must extend the call, not start it again. It is kept this long
# after the end, longer while utterances of the call are still out for text (never longer
# than CALL_LATE_MAX_S), and for at most MAX_ENDED_CALLS ended calls (the oldest goes first).
CALL_GRACE_S = 120.0
CALL_LATE_MAX_S = 600.0
CALL_LATE_POLL_S = 15.0  # past the grace, how often a call still waiting for text is looked at
MAX_ENDED_CALLS = 1024
MAX_GONE_CALLS = 10_000  # forgotten calls remembered as such (a line of one has no figures)
MAX_REDACTED_CALLS = 1024  # calls with redaction memory at once (the oldest is dropped)
# A final segment whose last digits may begin a card is held back until that is decided
# (see CallRedactor), but never longer than this after its text came: speech workers that
# lost its successor, or a stalled stream, do not hold it for ever (later news corrects it).
HOLD_MAX_S = 30.0
HOLD_POLL_S = 0.25  # how often a hold waiting on speech still being said is looked at again
MAX_IN_FLIGHT = 256  # per call: utterances sent for text and not back yet (the oldest forgotten)


@dataclass
class _CallState:
    alerts: AlertEngine
    moods: dict[Role, Mood] = field(default_factory=dict)
    spoken: dict[Role, list[tuple[float, float]]] = field(default_factory=dict)
    speaking: dict[Role, bool] = field(default_factory=dict)
    now_s: float = 0.0
    last_speech_s: float = 0.0
    overlap_from: float | None = None
    # Made again for a line that came after the call was forgotten: its figures would cover
    # that line alone and replace the call's whole-call ones, so none are published.
    partial: bool = False


@dataclass(frozen=True)
class _Meta:
    segment_id: str
    role: Role
    start_s: float
    end_s: float
    ended_at: float  # loop time when the utterance ended, for latency figures
    partial: bool = False
    track: str = ""  # the track's key: its speaker's language is learnt from the results


class AnalysisPipeline:
    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop, *,
                 redaction: bool = True, alerts: AlertSettings | None = None,
                 vad: VadSettings | None = None, meaning: bool = True,
                 topics: Sequence[Topic] = DEFAULT_TOPICS) -> None:
        self.bus = bus
        self.loop = loop
        self.redaction = redaction
        self.alert_settings = alerts or AlertSettings()
        # Intent alerts and call topics by meaning, on a thread of their own.
        self.meaning: MeaningWorker | None = None
        if meaning:
            self.meaning = MeaningWorker(self.alert_settings.rules, self._meaning_done,
                                         topics)
            self.meaning.start()
        self._topics: dict[str, tuple[TopicTracker, tuple[str, float]]] = {}
        # Translation (serve --translate en): a pool of multilingual workers hears tracks
        # whose language is not known yet or not English; once a track is heard to be
        # English, the (faster) English pool takes it over.
        self.translator: SttPool | None = None
        self._languages: dict[str, str] = {}  # track key -> language, once sure
        self._detected: dict[str, str] = {}  # track key -> the latest sure detection
        self._originals: dict[str, tuple[str, str]] = {}  # segment id -> (said, language)
        self._awaiting: dict[str, str] = {}  # segment id -> its text, while meaning is read
        self.vad_settings = vad or VadSettings()
        self.scorer = SentimentScorer()
        self.pool: SttPool | None = None
        self._segmenters: dict[str, tuple[Segmenter, float]] = {}
        self._calls: dict[str, _CallState] = {}
        self._ids = itertools.count(1)
        # Segment ids are unique beyond this run: a call that comes back after a restart
        # (same stream id, so the same track key) must not overwrite its earlier segments,
        # which the store updates in place by id.
        self._run = secrets.token_hex(3)
        # Utterance end -> text published, seconds: the latest LATENCY_WINDOW finals only
        # (older ones fall off), so a console running for weeks does not keep them all.
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        # The call the supervisor is looking at (set from the UI thread): it gets tentative
        # text while people are still speaking, about once a `partial_every_s`.
        self.focus: str | None = None
        self.partial_every_s = 1.0
        self._utt_ids: dict[str, str] = {}  # track -> id of the utterance in progress
        self._last_partial: dict[str, float] = {}
        self._finished: set[str] = set()
        # Per call: redaction with memory across utterances, and the final segments it may
        # still correct (published again, same segment_id, with more masked).
        self._redactors: dict[str, tuple[CallRedactor, dict[str, TranscriptSegment]]] = {}
        # Holding back (per call): the held segments (meta, loop time their text came),
        # the timer that looks at them again, loop time minus call time (from the latest
        # final segment), and the utterances sent for text and not back yet (role, start,
        # loop time sent): a speaker's number is decided once nothing they began saying
        # within the join window can still come.
        self._held: dict[str, dict[str, tuple[_Meta, float]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._clock: dict[str, float] = {}
        self._in_flight: dict[str, dict[str, tuple[Role, float, float]]] = {}
        self._tracks: dict[str, dict[str, TrackState]] = {}  # call -> live tracks by key
        self._speech_from: dict[str, float] = {}  # track key -> call time speech began
        # Ended calls still remembered -> loop time they ended, the oldest end first.
        self._ended: dict[str, float] = {}
        self._gone: dict[str, None] = {}  # calls forgotten after their end (the latest)
        self._closed = False
        # How late the voice detector can tell that speech began (pre-roll plus its window).
        self._vad_lag_s = self.vad_settings.pre_roll_s + self.vad_settings.window / 50

    # --- engine thread: audio in ------------------------------------------------------

    def feed(self, track: TrackState, pcm: Pcm) -> None:
        entry = self._segmenters.get(track.key)
        if entry is None:
            # Where this track starts on its call's timeline.
            offset = track.call_offset_s
            entry = self._segmenters[track.key] = (Segmenter(track.rate, self.vad_settings),
                                                   offset)
            self._tracks.setdefault(track.call_id, {})[track.key] = track
            self._live_again(track.call_id)
        segmenter, offset = entry
        for utt in segmenter.feed(pcm):
            self._utterance(track, utt, offset)
        if segmenter.changes:
            self._speech_changes(track, segmenter, offset)
        self._timeline(track, segmenter.speaking, offset + segmenter.now_s)
        if segmenter.speaking and track.call_id == self.focus and self.pool is not None:
            self._partial(self.pool, track, segmenter, offset)

    def _state(self, call_id: str) -> _CallState:
        state = self._calls.get(call_id)
        if state is None:
            gone = call_id in self._gone
            state = self._calls[call_id] = _CallState(AlertEngine(call_id, self.alert_settings),
                                                      partial=gone)
            if gone:  # text long after the end: what it makes again is let go again
                self._mark_ended(call_id)
        return state

    def _live_again(self, call_id: str) -> None:
        """A track of the call opened: it is live (again, for a call that comes back)."""
        self._ended.pop(call_id, None)
        if self._gone.pop(call_id, None) is not None:
            state = self._calls.get(call_id)
            if state is not None:
                state.partial = False

    def _timeline(self, track: TrackState, speaking: bool, now_s: float) -> None:
        """Live overtalk and silence, from both speakers' voice activity."""
        st = self._state(track.call_id)
        st.speaking[track.role] = speaking
        st.now_s = max(st.now_s, now_s)
        if speaking:
            st.last_speech_s = st.now_s
        # Both roles heard and speaking (walking the enum here cost more than all the rest).
        both = len(st.speaking) == _ROLE_COUNT and all(st.speaking.values())
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
            if speaking:  # the utterance starts up to the pre-roll before it is detected
                self._speech_from[track.key] = offset + at_s - self.vad_settings.pre_roll_s
            else:
                self._speech_from.pop(track.key, None)
        segmenter.changes.clear()

    def set_focus(self, call_id: str | None) -> None:
        self.focus = call_id
        if self.pool is not None:
            self.pool.focus = call_id

    def _segment_id(self, track: TrackState) -> str:
        sid = self._utt_ids.get(track.key)
        if sid is None:
            sid = self._utt_ids[track.key] = f"{track.key}#{self._run}.{next(self._ids)}"
        return sid

    def _partial(self, pool: SttPool, track: TrackState, segmenter: Segmenter,
                 offset: float) -> None:
        now = segmenter.now_s
        if now - self._last_partial.get(track.key, -1e9) < self.partial_every_s:
            return
        utt = segmenter.current()
        if utt is None or utt.end_s - utt.start_s < 0.6:
            return
        if self.translator is not None and self._languages.get(track.key) != "en":
            return  # English guesses of another language would only mislead
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
        self._speech_from.pop(track.key, None)
        tracks = self._tracks.get(track.call_id)
        if tracks is not None:
            tracks.pop(track.key, None)
            if not tracks:
                del self._tracks[track.call_id]

    def _utterance(self, track: TrackState, utt: Utterance, offset: float) -> None:
        sid = (self._utt_ids.pop(track.key, None)
               or f"{track.key}#{self._run}.{next(self._ids)}")
        self._last_partial.pop(track.key, None)
        if self.pool is None or utt.audio.size < utt.rate // 5:  # under 200 ms: a noise
            return
        audio = resample(utt.audio, utt.rate, RATE).astype(np.float32) / 32768.0
        meta = _Meta(sid, track.role, round(offset + utt.start_s, 2),
                     round(offset + utt.end_s, 2), self.loop.time(), track=track.key)
        # A number held back waits for this one's text; an ended call's memory too.
        in_flight = self._in_flight.setdefault(track.call_id, {})
        in_flight[sid] = (track.role, meta.start_s, meta.ended_at)
        if len(in_flight) > MAX_IN_FLIGHT:
            del in_flight[next(iter(in_flight))]
        language = self._languages.get(track.key)
        if self.translator is not None and language != "en":
            self.translator.submit(Job(next(self._ids), track.call_id, audio, meta,
                                       language=language))
            return
        self.pool.submit(Job(next(self._ids), track.call_id, audio, meta))

    # --- speech workers: text back (collector thread) ------------------------------

    def on_text(self, job: Job, text: str) -> None:
        self.loop.call_soon_threadsafe(self._publish, job.call_id, job.meta, text)

    def on_translated(self, job: Job, wire: str) -> None:
        from console.analysis.stt.translate import from_wire

        try:
            heard = from_wire(wire) if wire else None
        except ValueError:
            log.error("a translating worker sent an unreadable result")
            heard = None
        self.loop.call_soon_threadsafe(self._publish_heard, job.call_id, job.meta, heard)

    def _publish_heard(self, call_id: str, meta: _Meta, heard: Any) -> None:
        """A line from the translating pool: English as it is; another language as its
        English, with what was said kept beside it."""
        if heard is None or not (heard.original or heard.english):
            self._publish(call_id, meta, "")
            return
        if meta.track and heard.probability >= LANGUAGE_SURE:
            # Settled by two detections in a row that agree: a single sure one was wrong
            # for 7 of 48 Spanish speakers (Italian, Thai), and once settled a track's
            # language is given to the model, which then never says otherwise.
            if len(self._languages) > MAX_TRACKS_KEPT:
                self._languages.clear()
                self._detected.clear()
            if self._detected.get(meta.track) == heard.language:
                self._languages[meta.track] = heard.language
            self._detected[meta.track] = heard.language
        if heard.language == "en":
            self._publish(call_id, meta, heard.original or heard.english)
            return
        said = heard.original
        if self.redaction:  # digits said in another language are masked as in English
            said = _mask_digits(said)
        if len(self._originals) > MAX_TRACKS_KEPT:
            self._originals.clear()
        self._originals[meta.segment_id] = (said, heard.language)
        self._publish(call_id, meta, heard.english)

    def _publish(self, call_id: str, meta: _Meta, text: str) -> None:
        text = " ".join(text.split())
        if meta.partial:
            # Tentative text arriving after its final line would only confuse the reader.
            if text and meta.segment_id not in self._finished:
                shown = (self._redactor(call_id)[0].peek(meta.segment_id, meta.role,
                                                         meta.start_s, meta.end_s, text)
                         if self.redaction else text)
                self.bus.publish(TranscriptSegment(call_id, meta.segment_id, meta.role,
                                                   meta.start_s, meta.end_s, shown, False))
            return
        self._finished.add(meta.segment_id)
        if len(self._finished) > 10000:
            self._finished.clear()
        in_flight = self._in_flight.get(call_id)
        if in_flight is not None:
            in_flight.pop(meta.segment_id, None)
        if not text:
            if self.redaction:  # what was held for this utterance's text may go now
                self._settle(call_id)
            return
        self._state(call_id).spoken.setdefault(meta.role, []).append((meta.start_s,
                                                                      meta.end_s))
        if not self.redaction:
            self._emit(call_id, meta, text)
            return
        # The raw words never reach the bus or the store, nor do digits that may turn out
        # to be part of a card: such a segment is held until that is decided, and shown
        # meanwhile as tentative text with those digits masked (tentative text is not kept).
        r = self._redactor(call_id)[0].push(meta.segment_id, meta.role, meta.start_s,
                                            meta.end_s, text)
        self._clock[call_id] = meta.ended_at - meta.end_s
        if r.pending:
            self._held.setdefault(call_id, {})[meta.segment_id] = (meta, self.loop.time())
            self.bus.publish(TranscriptSegment(call_id, meta.segment_id, meta.role,
                                               meta.start_s, meta.end_s, r.text, False))
        # Held segments now decided were said before this one: they go first.
        self._release(call_id, {**r.released, **self._due(call_id)})
        if not r.pending:
            self._emit(call_id, meta, r.text)
        self._correct(call_id, r.corrections)
        self._schedule(call_id)

    def _emit(self, call_id: str, meta: _Meta, text: str) -> None:
        """Publish a final segment (its text as redacted) with its sentiment and alerts:
        once its meaning is known (a few tens of milliseconds), or at once without it."""
        if self.meaning is not None and self.meaning.submit((call_id, meta, text),
                                                            meta.role.value, text):
            # Redaction may mask more of it while its meaning is read: kept up to date here.
            if len(self._awaiting) > MAX_TRACKS_KEPT:
                self._awaiting.clear()
            self._awaiting[meta.segment_id] = text
        else:
            self._emit_now(call_id, meta, text, None)

    def _meaning_done(self, token: tuple[str, _Meta, str], meaning: Meaning | None) -> None:
        # (meaning worker's thread)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the engine is gone
            self.loop.call_soon_threadsafe(self._emit_now, *token, meaning)

    def _emit_now(self, call_id: str, meta: _Meta, text: str, meaning: Meaning | None) -> None:
        text = self._awaiting.pop(meta.segment_id, text)  # as corrected meanwhile
        state = self._state(call_id)
        verdict = meaning.sentiment if meaning is not None else None
        score = verdict.score if verdict is not None else self.scorer.score(text)
        confidence = verdict.confidence if verdict is not None else None
        mood = state.moods.setdefault(meta.role, Mood())
        smoothed = mood.update(score, meta.end_s, meta.end_s - meta.start_s, confidence)
        original, language = self._originals.pop(meta.segment_id, (None, None))
        segment = TranscriptSegment(call_id, meta.segment_id, meta.role, meta.start_s,
                                    meta.end_s, text, True, score,
                                    verdict.label if verdict is not None else None,
                                    confidence, original, language)
        self.bus.publish(segment)
        if self.redaction:  # it may be corrected later
            self._redactor(call_id)[1][meta.segment_id] = segment
        self.bus.publish(SentimentSample(call_id, meta.role, meta.end_s, smoothed, confidence))
        fired = meaning.fired if meaning is not None else []
        if meaning is not None and self.redaction:  # an alert's words never show digits
            fired = [dataclasses.replace(f, evidence=_mask_digits(f.evidence)) for f in fired]
        said = (state.alerts.on_segment(meta.role, text, meta.end_s) if meaning is None
                else state.alerts.on_fired(meta.role, fired, meta.end_s))
        for alert in said + state.alerts.on_sentiment(meta.role, smoothed, meta.end_s):
            self.bus.publish(alert)
        if meaning is not None:
            self._topic(call_id, meta, meaning, len(text.split()))
        self._publish_metrics(call_id, state)
        self.latencies.append(self.loop.time() - meta.ended_at)

    def _topic(self, call_id: str, meta: _Meta, meaning: Meaning, words: int) -> None:
        """The call's topic, published when it changes (or its confidence moves a tenth)."""
        assert self.meaning is not None
        tracker, shown = self._topics.get(call_id) or (
            TopicTracker(self.meaning.topic_names), ("", -1.0))
        tracker.add(meaning.topics, meta.role.value, words)
        now = (tracker.topic, round(tracker.confidence, 1))
        if now != shown and (tracker.topic != OTHER or shown[0]):
            self.bus.publish(CallTopic(call_id, tracker.topic, tracker.confidence,
                                       round(meta.end_s, 2)))
            shown = now
        self._topics[call_id] = (tracker, shown)

    def _publish_metrics(self, call_id: str, state: _CallState) -> None:
        if state.partial:
            return
        m = conversation_metrics(state.spoken.get(Role.CUSTOMER, []),
                                 state.spoken.get(Role.AGENT, []), state.now_s)
        self.bus.publish(ConversationUpdate(call_id, m.customer_talk_s, m.agent_talk_s,
                                            m.talk_ratio, m.longest_silence_s,
                                            m.overtalk_count, m.overtalk_s))

    def _redactor(self, call_id: str) -> tuple[CallRedactor, dict[str, TranscriptSegment]]:
        entry = self._redactors.get(call_id)
        if entry is None:
            if len(self._redactors) >= MAX_REDACTED_CALLS:
                # The oldest memory goes (an ended call's first), the call's figures stay.
                oldest = next((c for c in self._redactors if c in self._ended),
                              next(iter(self._redactors)))
                self._drop_redaction(oldest)
            entry = self._redactors[call_id] = (CallRedactor(), {})
        return entry

    # --- holding back digits that may begin a card (engine loop) --------------------------

    def _heard_until(self, call_id: str, who: Hashable, now: float) -> float:
        """Call time before which every utterance `who` began has been pushed: none still
        being said, none sent for text and not back yet."""
        if self._closed:
            return math.inf  # no more text will come
        heard = math.inf
        if call_id not in self._ended:
            # The clock, then each of the speaker's tracks: its audio so far (a stalled
            # stream has told nothing of what came after) and speech still being said.
            heard = now - self._clock.get(call_id, now) - self._vad_lag_s
            for key, track in self._tracks.get(call_id, {}).items():
                entry = self._segmenters.get(key)
                if track.role is not who or entry is None:
                    continue
                heard = min(heard, entry[1] + entry[0].now_s - self._vad_lag_s,
                            self._speech_from.get(key, math.inf))
        for role, start_s, sent in self._in_flight.get(call_id, {}).values():
            if role is who and now - sent < HOLD_MAX_S:  # older: the workers lost it
                heard = min(heard, start_s)
        return heard

    def _due(self, call_id: str) -> dict[str, str]:
        """Held segments that can be decided now, or have waited too long: id -> text."""
        entry = self._redactors.get(call_id)
        if entry is None or not entry[0].holding():
            return {}
        redactor, now = entry[0], self.loop.time()
        holding = redactor.holding()
        out: dict[str, str] = {}
        for who in {w for w, _ in holding.values()}:
            out.update(redactor.release(who, self._heard_until(call_id, who, now)))
        held = self._held.get(call_id, {})
        late = [sid for sid in holding if sid not in out
                and (sid not in held or now - held[sid][1] >= HOLD_MAX_S)]
        if late:
            log.warning("call %s: %d transcript segment(s) held %.0f s without a decision; "
                        "published as they stand", call_id, len(late), HOLD_MAX_S)
            out.update(redactor.flush(late))
        return out

    def _release(self, call_id: str, released: dict[str, str]) -> None:
        """Publish held segments now decided, in the order they were said."""
        held = self._held.get(call_id)
        if not released or held is None:
            return
        out = [(held.pop(sid)[0], text) for sid, text in released.items() if sid in held]
        if not held:
            del self._held[call_id]
        for meta, text in sorted(out, key=lambda m: (m[0].start_s, m[0].end_s)):
            self._emit(call_id, meta, text)

    def _schedule(self, call_id: str) -> None:
        """Look at the call's held segments again when the time alone may decide them."""
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()
        entry, held = self._redactors.get(call_id), self._held.get(call_id)
        if entry is None or not held:
            return
        now, clock = self.loop.time(), self._clock.get(call_id, 0.0)
        due = min((min(until + clock + self._vad_lag_s, held[sid][1] + HOLD_MAX_S)
                   for sid, (_, until) in entry[0].holding().items() if sid in held),
                  default=now)
        # Past due but undecided: the speaker is still talking, or their text is on its way.
        delay = HOLD_POLL_S if due <= now else due - now + 0.01
        self._timers[call_id] = self.loop.call_later(delay, self._settle, call_id)

    def _settle(self, call_id: str) -> None:
        self._timers.pop(call_id, None)
        self._release(call_id, self._due(call_id))
        self._schedule(call_id)

    def _drop_redaction(self, call_id: str) -> None:
        """Drop a call's redaction memory; anything it still held is published first."""
        entry = self._redactors.get(call_id)
        if entry is not None:
            self._release(call_id, entry[0].flush())
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()
        self._redactors.pop(call_id, None)
        self._held.pop(call_id, None)
        self._clock.pop(call_id, None)

    def _forget(self, call_id: str) -> None:
        """Drop everything kept of an ended call (its redaction memory published first)."""
        self._drop_redaction(call_id)
        self._in_flight.pop(call_id, None)
        self._topics.pop(call_id, None)
        self._calls.pop(call_id, None)
        if self._ended.pop(call_id, None) is not None:
            self._gone[call_id] = None
            if len(self._gone) > MAX_GONE_CALLS:
                del self._gone[next(iter(self._gone))]

    def _expire(self, call_id: str, ended_at: float) -> None:
        """The grace after a call's end is over: forget it, unless it came back (or ended
        again since: a later timer decides) or text of its utterances is still coming."""
        if self._ended.get(call_id) != ended_at:
            return
        now = self.loop.time()
        waiting = any(now - sent < CALL_LATE_MAX_S
                      for _, _, sent in self._in_flight.get(call_id, {}).values())
        if waiting and now - ended_at < CALL_LATE_MAX_S:
            self.loop.call_later(CALL_LATE_POLL_S, self._expire, call_id, ended_at)
            return
        self._forget(call_id)

    def _flush_all(self) -> None:
        for call_id in list(self._redactors):
            self._settle(call_id)  # closed: everything held goes out

    def _correct(self, call_id: str, corrections: dict[str, str]) -> None:
        """Publish earlier final segments again with more masked: the window and the store
        replace a segment by its segment_id."""
        redactor, published = self._redactor(call_id)
        for sid, text in corrections.items():
            old = published.get(sid)
            if old is not None:
                published[sid] = dataclasses.replace(old, text=text)
                self.bus.publish(published[sid])
            elif sid in self._awaiting:  # not out yet: it goes out as corrected
                self._awaiting[sid] = text
        for sid in [sid for sid in published if sid not in redactor]:
            del published[sid]  # out of the redactor's window: never corrected again

    def call_ended(self, call_id: str) -> None:
        # Nobody speaks any more: held segments go out as soon as the text of the
        # utterances still being transcribed is back (at once when there are none).
        self._mark_ended(call_id)
        if self.redaction:
            self._settle(call_id)

    def _mark_ended(self, call_id: str) -> None:
        """The last utterances are still being transcribed: the call's memory is kept for
        their text (its figures, trend and cool-downs go on), then let go (_expire)."""
        self._ended.pop(call_id, None)  # ended again: the newest end
        ended_at = self._ended[call_id] = self.loop.time()
        while len(self._ended) > MAX_ENDED_CALLS:
            self._forget(next(iter(self._ended)))
        self.loop.call_later(CALL_GRACE_S, self._expire, call_id, ended_at)

    def close(self) -> None:
        """Stop the speech workers; segments still held back are published as they stand
        (on the engine loop: this may be called from another thread)."""
        self._closed = True
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.translator is not None:
            self.translator.close()
            self.translator = None
        if self.meaning is not None:  # what it holds is delivered; the rest goes without
            self.meaning.close()
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._flush_all()
        else:  # after any text the workers delivered while stopping
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                self.loop.call_soon_threadsafe(self._flush_all)
