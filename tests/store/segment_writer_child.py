"""Child process for the kill -9 test: final segments stream into a real store; each one is
announced on stdout the moment its commit returns."""

from __future__ import annotations

import sys
import time

from console.core.events import (
    CallEvent,
    CallStarted,
    MediaFormat,
    Provider,
    Role,
    StreamOpened,
    TranscriptSegment,
)
from console.store.writer import StoreWriter


def main() -> None:
    w = StoreWriter(sys.argv[1])

    def committed(events: list[CallEvent]) -> None:
        for ev in events:
            if isinstance(ev, TranscriptSegment) and ev.final:
                print(f"C {ev.segment_id}", flush=True)

    w.on_commit = committed
    w.on_event(CallStarted("k9", Provider.TELNYX, "+1", "+2", time.time()))
    w.on_event(StreamOpened("k9", "k9-s", Provider.TELNYX, MediaFormat("PCMU", 8000), (), {},
                            "customer", {}, None, time.time()))
    i = 0
    while True:
        i += 1
        who = Role.CUSTOMER if i % 2 else Role.AGENT
        w.on_event(TranscriptSegment("k9", f"seg{i}", who, i * 1.0, i + 0.8,
                                     f"final segment number {i}", True, 0.0))
        time.sleep(0.004)


if __name__ == "__main__":
    main()
