"""The window's status bar says when the store cannot save (a real SQLITE_READONLY from the
store writer's connection), and what is left of it once the store can save again."""

from __future__ import annotations

from console.core.events import CallStarted, Provider


def test_status_bar_shows_storage_trouble_and_recovery(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    store = console.engine.store

    def health() -> str:
        w.tick_slow()
        return str(w.status_labels["health"].text())

    qtbot.waitUntil(lambda: health().startswith("Engine: running"), timeout=9000)
    store._conn.execute("PRAGMA query_only = 1")  # the writer's own connection: unwritable
    store.on_event(CallStarted("status-1", Provider.TELNYX, None, None, 1.0))
    qtbot.waitUntil(lambda: health().startswith("Engine: storage degraded"), timeout=9000)
    assert "readonly database" in health() and "waiting" in health()
    store._conn.execute("PRAGMA query_only = 0")
    # Saved after all; the status keeps count of the trouble there was.
    qtbot.waitUntil(lambda: health() == "Engine: 1 storage error(s)", timeout=9000)
    assert store.health.ok and store.health.backlog == 0
