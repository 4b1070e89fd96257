"""The engine-to-window hand-off is bounded: a window that stops draining it costs display
refreshes first, then new events, each counted; it never grows without end."""

from __future__ import annotations

import time

from console.core.events import (
    CallStarted,
    Provider,
    Role,
    SentimentSample,
    TranscriptSegment,
)
from console.engine import Engine
from console.ui.bridge import HARD_LIMIT, SOFT_LIMIT, EngineBridge
from console.ui.main_window import speech_summary


def test_a_stalled_window_loses_refreshes_first_then_counts_every_drop(qapp, settings) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(settings)
    bridge = EngineBridge(engine)
    bridge._timer.stop()  # the window stops draining
    try:
        publish = engine.bus.publish
        for i in range(SOFT_LIMIT):
            publish(CallStarted(f"c{i}", Provider.TELNYX, None, None, time.time()))
        # Past the soft limit: refreshes and tentative text go, facts still queue.
        publish(SentimentSample("c1", Role.CUSTOMER, 1.0, 0.5))
        publish(TranscriptSegment("c1", "s1", Role.AGENT, 0, 1, "tentative", False))
        publish(TranscriptSegment("c1", "s1", Role.AGENT, 0, 1, "final", True))
        assert bridge.dropped == 2 and len(bridge._queue) == SOFT_LIMIT + 1
        for i in range(HARD_LIMIT - SOFT_LIMIT + 10):
            publish(CallStarted(f"d{i}", Provider.TELNYX, None, None, time.time()))
        assert len(bridge._queue) == HARD_LIMIT and bridge.dropped == 2 + 11
        batches: list[list[object]] = []
        bridge.events.connect(batches.append)
        bridge.drain()
        assert len(batches[0]) == HARD_LIMIT and not bridge._queue
    finally:
        bridge.close()
        engine.store.close()
        engine._lock_file.close()


def test_the_status_bar_never_says_transcribing_without_workers() -> None:
    assert speech_summary("on: tiny.en (package)") == "transcribing"
    assert "fewer" in speech_summary("on (degraded: 1 of 2 speech workers running; x): y")
    assert speech_summary("restarting: no speech worker running (killed)") == \
        "speech workers restarting"
    assert speech_summary("failing: speech workers keep stopping (x)") == \
        "speech workers keep failing"
    assert speech_summary("off: no model") == "no transcription"
