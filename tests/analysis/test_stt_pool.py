"""The speech worker pool: real worker processes with the real model, fed real speech, and
killed with real signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from support import phone_clips

from console.analysis.pipeline import LATENCY_WINDOW, AnalysisPipeline, _Meta
from console.analysis.stt.engine import MAX_BATCH
from console.analysis.stt.models import find_model
from console.analysis.stt.pool import Job, SttPool
from console.analysis.wer import normalise, word_errors
from console.core.bus import EventBus
from console.core.events import Role


def _job(i: int, call: str, partial: bool = False, key: str = "") -> Job:
    return Job(i, call, np.zeros(160, np.float32), partial=partial, key=key)


def test_batches_put_final_text_and_the_focused_call_first() -> None:
    pool = SttPool("unused", lambda _j, _t: None)  # not started: only the queue is used
    pool.focus = "focus"
    for i in range(6):
        pool.submit(_job(i, "other", partial=i % 2 == 1, key=f"k{i}" if i % 2 else ""))
    pool.submit(_job(6, "focus"))
    pool.submit(_job(7, "focus", partial=True, key="kf"))
    # Two free workers share what is queued: 8 jobs, 4 each.
    first = pool._take_batch(2)
    assert [j.id for j in first] == [6, 0, 2, 4]  # finals, the focused call's first
    second = pool._take_batch(1)
    assert [j.id for j in second] == [7, 1, 3, 5]  # then tentative text, focused first
    assert pool._take_batch(1) == []


def test_a_newer_partial_replaces_the_queued_one_and_batches_are_bounded() -> None:
    pool = SttPool("unused", lambda _j, _t: None)
    pool.submit(_job(1, "a", partial=True, key="utt"))
    pool.submit(_job(2, "a", partial=True, key="utt"))
    assert [j.id for j in pool._take_batch(1)] == [2]
    for i in range(3 * MAX_BATCH):
        pool.submit(_job(10 + i, "b"))
    assert len(pool._take_batch(1)) == MAX_BATCH  # one worker: a bounded batch
    assert len(pool._take_batch(4)) == MAX_BATCH // 2  # 16 left shared by 4 workers


def test_workers_transcribe_each_utterance_of_many_calls() -> None:
    refs, audios = phone_clips()
    done: dict[int, str] = {}
    finished = threading.Event()

    def on_text(job: Job, text: str) -> None:
        done[job.id] = text
        if len(done) == len(audios):
            finished.set()

    pool = SttPool(str(find_model().path), on_text, workers=2)
    pool.start()
    pids = pool.pids()
    try:
        for i, audio in enumerate(audios):
            pool.submit(Job(i, f"call-{i % 3}", audio))
        assert finished.wait(60), f"{len(done)} of {len(audios)} came back"
    finally:
        pool.close()
    assert len(pids) == 2 and pool.pids() == []
    assert not _running(pids)
    errors = sum(word_errors(refs[i], done[i])[0] for i in range(len(audios)))
    assert errors <= 6, done  # each text went back to its own utterance


def test_a_model_that_cannot_load_is_reported() -> None:
    pool = SttPool("/nonexistent/model", lambda _j, _t: None, workers=1)
    with pytest.raises(RuntimeError, match="speech recognition could not start"):
        pool.start(timeout=60)
    assert pool.pids() == []
    assert not _running([c.pid for c in psutil.Process().children()
                         if "spawn_main" in " ".join(c.cmdline())])


def test_workers_decode_tentative_text_greedily_and_final_text_with_the_beam() -> None:
    import json

    from console.audio.codecs import resample
    from console.audio.wav import read_wav

    # The same speech as tentative and as final text: greedy tiny.en hears "my fellow
    # America" in it, the beam "my fellow Americans" (tests/analysis/test_wer.py).
    data = Path(__file__).resolve().parents[1] / "data" / "real-speech"
    assert any(it["file"] == "jfk-1961.wav"
               for it in json.loads((data / "transcripts.json").read_text()))
    pcm = read_wav(data / "jfk-1961.wav")[0][:, 0]
    audio = resample(pcm, 8000, 16000).astype(np.float32) / 32768.0
    done: dict[int, str] = {}
    finished = threading.Event()

    def on_text(job: Job, text: str) -> None:
        done[job.id] = text
        if len(done) == 2:
            finished.set()

    pool = SttPool(str(find_model().path), on_text, workers=1)
    pool.start()
    try:
        pool.submit(Job(1, "call", audio, partial=True, key="utt"))
        pool.submit(Job(2, "call", audio))
        assert finished.wait(60), done
    finally:
        pool.close()
    assert "americans" in normalise(done[2]), done
    assert "america" in normalise(done[1]) and "americans" not in normalise(done[1]), done


def _running(pids: list[int]) -> list[int]:
    """Those of `pids` still running (zombies not yet reaped count as ended)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `predicate()` held (AssertionError after `timeout`)."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.002)
    return time.monotonic() - t0


class Collector:
    def __init__(self, expected: int) -> None:
        self.texts: dict[int, list[str]] = {}
        self.expected = expected
        self.all_back = threading.Event()

    def __call__(self, job: Job, text: str) -> None:
        self.texts.setdefault(job.id, []).append(text)
        if len(self.texts) == self.expected:
            self.all_back.set()


def test_a_killed_worker_is_noticed_restarted_and_its_utterances_redone(caplog) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of a worker in the middle of a batch: noticed at once (the pool waits on
    each process's exit), logged, restarted, and each utterance it held comes back once,
    with its own words, from a worker that lives."""
    refs, audios = phone_clips()
    got = Collector(len(audios))
    pool = SttPool(str(find_model().path), got, workers=2)
    pool.start()
    on = "on: tiny.en (test)"
    try:
        assert pool.status(on) == on
        for i, audio in enumerate(audios):
            pool.submit(Job(i, f"call-{i % 3}", audio))
        _wait(lambda: all(s.batch for s in pool._slots), 5, "both workers busy")
        victim = pool._slots[0]
        held = [j.id for j in victim.batch]
        pid = victim.proc.pid
        caplog.set_level(logging.WARNING, "console.stt")
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        noticed = _wait(lambda: pool.health().deaths == 1, 2.0, "the death noticed")
        health = pool.health()
        assert health.requeued == len(held) >= 1
        # One worker left: degraded, still on; says which worker and why.
        status = pool.status(on)
        assert status.startswith("on (degraded: 1 of 2 speech workers running; killed by "
                                 "SIGKILL"), status
        assert got.all_back.wait(60), f"{len(got.texts)} of {len(audios)} came back"
        _wait(lambda: pool.health().live == 2, 20, "the worker back")
        back = time.monotonic() - t0
        assert pool.status(on) == on
        assert pid not in pool.pids() and len(pool.pids()) == 2
        assert pool.health().restarts == 1
    finally:
        pool.close()
    assert all(len(t) == 1 for t in got.texts.values()), got.texts  # none twice
    errors = sum(word_errors(refs[i], got.texts[i][0])[0] for i in range(len(audios)))
    assert errors <= 6, got.texts
    log = caplog.text
    assert (f"(pid {pid}) killed by SIGKILL; the {len(held)} utterance(s) it held go back in "
            "the queue; starting it again") in log, log
    assert "is running again" in log
    print(f"death noticed in {noticed * 1000:.1f} ms; worker back in {back:.1f} s")


def test_both_workers_killed_transcription_is_not_on_until_one_is_back() -> None:
    refs, audios = phone_clips()
    got = Collector(3)
    pool = SttPool(str(find_model().path), got, workers=2)
    pool.start()
    on = "on: tiny.en (test)"
    try:
        pids = pool.pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: pool.health().deaths == 2, 2.0, "both deaths noticed")
        # What is said meanwhile waits for the new workers.
        for i in range(3):
            pool.submit(Job(i, "call", audios[i]))
        states = []
        while pool.health().live == 0:
            states.append(pool.status(on))
            time.sleep(0.01)
        assert states and all(st.startswith("restarting: no speech worker running (killed by "
                                            "SIGKILL)") for st in states), set(states)
        assert "3 utterance(s) waiting" in states[-1]
        assert got.all_back.wait(30)
        assert all(len(got.texts[i]) == 1 for i in range(3)), got.texts  # each once
        assert sum(word_errors(refs[i], got.texts[i][0])[0] for i in range(3)) <= 2
        assert not set(pids) & set(pool.pids())
    finally:
        pool.close()


def test_a_model_that_no_longer_loads_is_retried_with_pauses(tmp_path: Path) -> None:
    """Workers that keep dying (here: the model file went away) are started again after
    growing pauses, not in a loop; the status says so; when the model is back, so are they."""
    model = tmp_path / "model"
    model.mkdir()
    for f in Path(str(find_model().path)).iterdir():
        (model / f.name).symlink_to(f)
    pool = SttPool(str(model), lambda _j, _t: None, workers=1)
    pool.start()
    on = "on: tiny.en (test)"
    try:
        target = (model / "model.bin").readlink()
        (model / "model.bin").unlink()
        os.kill(pool.pids()[0], signal.SIGKILL)
        _wait(lambda: pool.health().failing, 10, "the status saying the worker keeps failing")
        status = pool.status(on)
        assert status.startswith("failing: speech workers keep stopping (could not load the "
                                 "model: "), status
        assert "model.bin" in status
        # Started three times in about four seconds: killed once, then two failed loads.
        assert pool._slots[0].started <= 4
        (model / "model.bin").symlink_to(target)
        _wait(lambda: pool.health().live == 1, 15, "the worker back once the model is")
        assert pool.status(on) == on
        assert pool._slots[0].started <= 5
    finally:
        pool.close()


def test_a_stuck_worker_is_replaced_and_its_utterances_redone() -> None:
    """A worker that stops answering (here: SIGSTOP mid-batch) is not dead, but no use:
    after the batch time-out it is killed and replaced, and its batch is done elsewhere."""
    refs, audios = phone_clips()
    got = Collector(len(audios))
    # Long enough that the other worker's batch finishes on a saturated machine (it took
    # over 3 s there), short enough for a test.
    pool = SttPool(str(find_model().path), got, workers=2, batch_timeout_s=10.0)
    pool.start()
    try:
        for i, audio in enumerate(audios):
            pool.submit(Job(i, f"call-{i % 3}", audio))
        _wait(lambda: all(s.batch for s in pool._slots), 5, "both workers busy")
        pid = pool._slots[0].proc.pid
        os.kill(pid, signal.SIGSTOP)
        assert got.all_back.wait(60), f"{len(got.texts)} of {len(audios)} came back"
        assert pool.health().deaths == 1 and pool.health().requeued >= 1
        assert not _running([pid])
    finally:
        pool.close()
    assert all(len(t) == 1 for t in got.texts.values()), got.texts
    assert sum(word_errors(refs[i], got.texts[i][0])[0] for i in range(len(audios))) <= 6


def test_close_while_starting_stops_at_once() -> None:
    pool = SttPool(str(find_model().path), lambda _j, _t: None, workers=2)
    failure: list[BaseException] = []

    def start() -> None:
        try:
            pool.start()
        except RuntimeError as exc:
            failure.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    _wait(lambda: len(pool.pids()) == 2, 10, "workers started")
    pids = pool.pids()
    t0 = time.monotonic()
    pool.close()
    starter.join(5)
    took = time.monotonic() - t0
    assert not starter.is_alive() and failure, "start() did not give up"
    assert took < 3.0, took
    assert not _running(pids)


def test_the_queue_is_bounded_tentative_text_goes_first() -> None:
    """Over its bound the queue drops the oldest tentative text, then the oldest utterances;
    each drop is counted, and a spell of drops is logged once."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("console.stt").addHandler(handler)
    try:
        pool = SttPool("unused", lambda _j, _t: None, max_pending=4)
        pool.submit(_job(1, "a"))
        pool.submit(_job(2, "a", partial=True, key="p2"))
        pool.submit(_job(3, "b"))
        pool.submit(_job(4, "b", partial=True, key="p4"))
        pool.submit(_job(5, "c"))  # over: the oldest tentative text (2) goes
        assert [j.id for j in pool._pending] == [1, 3, 4, 5]
        pool.submit(_job(6, "c"))  # then 4, the last tentative one
        pool.submit(_job(7, "c"))  # then the oldest utterance
        assert [j.id for j in pool._pending] == [3, 5, 6, 7]
        assert pool.health().dropped == 3
        assert len([r for r in records if "speech queue full" in r.getMessage()]) == 1
        # Seconds of audio are bounded too: one minute of it, in 10 s utterances.
        pool = SttPool("unused", lambda _j, _t: None, max_pending_s=60)
        for i in range(10):
            pool.submit(Job(i, "a", np.zeros(160000, np.float32)))
        assert [j.id for j in pool._pending] == [4, 5, 6, 7, 8, 9]
        assert pool.health().dropped == 4
        assert "4 utterance(s) dropped, queue full" in pool.status("on: x")
    finally:
        logging.getLogger("console.stt").removeHandler(handler)


def test_latency_figures_are_a_bounded_window() -> None:
    """Each final text adds a latency figure; a console up for weeks keeps only the latest."""
    loop = asyncio.new_event_loop()
    try:
        pipeline = AnalysisPipeline(EventBus(), loop, redaction=False, meaning=False)
        for i in range(LATENCY_WINDOW + 50):
            meta = _Meta(f"s{i}", Role.AGENT, i, i + 1.0, loop.time() - i)
            pipeline._publish(f"call-{i}", meta, "thanks")  # a call each: no long metrics
        assert len(pipeline.latencies) == LATENCY_WINDOW
        assert min(pipeline.latencies) >= 50  # the oldest fell off
        assert sorted(pipeline.latencies)[-1] >= LATENCY_WINDOW  # bench/transcribe.py's use
    finally:
        loop.close()
