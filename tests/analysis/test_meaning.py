"""The meaning worker: off the loop, bounded, and never the reason a line is lost."""

from __future__ import annotations

import threading
from typing import Any

from console.analysis.alerts import DEFAULT_RULES
from console.analysis.meaning import Meaning, MeaningWorker


def test_lines_come_back_with_their_meaning_in_order() -> None:
    got: list[tuple[Any, Meaning | None]] = []
    done = threading.Event()

    def on_result(token: Any, meaning: Meaning | None) -> None:
        got.append((token, meaning))
        if len(got) == 3:
            done.set()

    worker = MeaningWorker(DEFAULT_RULES, on_result)
    # Said while the model loads: waits for it, in order.
    assert worker.submit(0, "customer", "I want to cancel my subscription")
    worker.start()
    assert worker.wait_ready(60), worker.status
    for i, text in enumerate(["hello there", "my router keeps dropping the connection"], 1):
        assert worker.submit(i, "customer", text)
    assert done.wait(60)
    worker.close()
    assert [t for t, _ in got] == [0, 1, 2]
    first, second, third = (m for _, m in got)
    assert first is not None and [f.rule for f in first.fired] == ["cancellation"]
    assert second is not None and second.fired == []
    assert third is not None
    names = worker.topic_names
    assert names[int(third.topics.argmax())] == "technical"
    assert not worker.submit("late", "customer", "after close")  # closed: goes on without


def test_a_full_queue_and_a_failing_line_are_counted_not_fatal() -> None:
    results: list[Meaning | None] = []
    gate = threading.Event()

    def on_result(_token: Any, meaning: Meaning | None) -> None:
        gate.wait(30)  # hold the worker so the queue fills
        results.append(meaning)

    worker = MeaningWorker(DEFAULT_RULES, on_result, queue_size=2)
    worker.start()
    assert worker.wait_ready(60)
    real = worker.analyse
    worker.analyse = lambda speaker, text: (_ for _ in ()).throw(ValueError("boom")) \
        if text == "bad" else real(speaker, text)  # type: ignore[method-assign]
    accepted = [worker.submit(i, "customer", "bad" if i == 0 else "fine")
                for i in range(6)]
    assert accepted[0] and not all(accepted) and worker.skipped >= 1
    gate.set()
    worker.close(30)
    assert results[0] is None and worker.failed == 1  # the bad line: delivered without
    assert all(r is not None for r in results[1:])


def test_without_a_model_waiting_lines_go_on_without_meaning(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import console.analysis.intents as intents
    from console.analysis.embeddings import EmbeddingError

    def missing(*_a: Any, **_k: Any) -> None:
        raise EmbeddingError("the sentence-embedding model is not installed")

    monkeypatch.setattr(intents, "IntentMatcher", missing)
    got: list[tuple[Any, Meaning | None]] = []
    worker = MeaningWorker(DEFAULT_RULES, lambda t, m: got.append((t, m)))
    assert worker.submit("waiting", "customer", "I want to cancel")
    worker.start()
    assert not worker.wait_ready(30)
    assert worker.status.startswith("off:") and "not installed" in worker.status
    assert got == [("waiting", None)]  # delivered, without meaning
    assert not worker.submit("later", "customer", "anything")  # the caller goes on at once
    worker.close()
