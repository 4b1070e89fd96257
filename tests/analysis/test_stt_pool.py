"""The speech worker pool: real worker processes with the real model, fed real speech."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from support import phone_clips

from console.analysis.stt.engine import MAX_BATCH
from console.analysis.stt.models import find_model
from console.analysis.stt.pool import Job, SttPool
from console.analysis.wer import word_errors


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
    try:
        for i, audio in enumerate(audios):
            pool.submit(Job(i, f"call-{i % 3}", audio))
        assert finished.wait(60), f"{len(done)} of {len(audios)} came back"
    finally:
        pool.close()
    assert all(not p.is_alive() for p in pool._procs)
    errors = sum(word_errors(refs[i], done[i])[0] for i in range(len(audios)))
    assert errors <= 6, done  # each text went back to its own utterance


def test_a_model_that_cannot_load_is_reported() -> None:
    pool = SttPool("/nonexistent/model", lambda _j, _t: None, workers=1)
    with pytest.raises(RuntimeError, match="speech recognition could not start"):
        pool.start(timeout=60)
    assert all(not p.is_alive() for p in pool._procs)
