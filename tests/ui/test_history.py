"""History: past calls from the store, searched, read back, played and exported."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sound
from support import audit_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_helpers import make_call
from ui_helpers import play


@pytest.fixture
def filled(settings):  # type: ignore[no-untyped-def]
    data = settings.data_path()
    make_call(data, "call-a", started=1_700_000_000.0)
    make_call(data, "call-b", started=1_700_050_000.0, ended=1_700_050_100.0)
    return settings


@pytest.fixture
def history(qapp, filled, qtbot):  # type: ignore[no-untyped-def]
    from console.ui.app import Console

    c = Console(qapp, filled)
    c.window.show()
    c.window.tabs.setCurrentWidget(c.window.history)
    h = c.window.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 2, timeout=15000)
    yield c, h
    c.shutdown()
    c.window.close()


def test_list_search_and_read_a_call(history, qtbot) -> None:  # type: ignore[no-untyped-def]
    _, h = history
    cols = [h.table.horizontalHeaderItem(i).text() for i in range(h.table.columnCount())]
    row = {cols[i]: h.table.item(0, i).text() for i in range(len(cols)) if h.table.item(0, i)}
    assert row["Call id"] == "call-b"  # newest first
    assert row["Customer mood"] == "-0.70 negative" and row["Alerts"] == "1"
    h.search.setText("refund")
    qtbot.waitUntil(lambda: "matching" in h.status.text(), timeout=9000)
    match = h.table.cellWidget(0, cols.index("Match"))
    assert match is not None and "<b" in match.text() and "refund" in match.text()
    h.search.setText("no such words here")
    qtbot.waitUntil(lambda: h.status.text() == "No calls match.", timeout=9000)
    h.search.setText("")
    qtbot.waitUntil(lambda: h.table.rowCount() == 2, timeout=9000)
    h.search.setText("cancel")
    qtbot.waitUntil(lambda: h.table.rowCount() == 2 and "matching" in h.status.text(),
                    timeout=9000)
    h.table.selectRow(1)
    qtbot.waitUntil(lambda: h.detail is not None and h.detail["id"] == "call-a", timeout=9000)
    text = h.transcript.toPlainText()
    assert "I was charged twice" in text and "cancel my account" in text
    assert "font-weight" in h.transcript.toHtml()  # the searched word is marked
    events = [h.events.item(i).text() for i in range(h.events.count())]
    assert any("keypad 1" in e for e in events)
    assert any("alert cancellation" in e for e in events)
    assert any("supervisor listen" in e for e in events)
    assert not h.play_button.isEnabled() and "not recorded" in h.play_button.toolTip()


def test_export_many_with_progress_and_audit(history, qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c, h = history
    h.table.selectAll()
    assert h.selected_ids() == ["call-b", "call-a"]
    out = tmp_path / "exports"
    out.mkdir()
    h.export_calls(h.selected_ids(), "csv", out)
    qtbot.waitUntil(lambda: h.status.text().startswith("Exported 2 of 2"), timeout=15000)
    assert not h.progress.isVisible() and h.progress.value() == 2
    rows = list(csv.DictReader((out / "call-a.csv").open()))
    assert len(rows) == 4 and rows[0]["speaker"] == "agent"
    h.export_calls(["call-a"], "wav", out)  # not recorded: reported, not fatal
    qtbot.waitUntil(lambda: "1 failed" in h.status.text(), timeout=15000)
    assert "--record" in h.status.text()
    c.engine.store.flush()
    actions = [a for a, _ in audit_rows(c.settings.data_path(), call_id="call-a")]
    assert actions.count("export") == 1 and "listen" in actions
    h.export_calls(["call-b"], "json", out)
    qtbot.waitUntil(lambda: h.status.text().startswith("Exported 1 of 1"), timeout=15000)
    assert json.loads((out / "call-b.json").read_text())["id"] == "call-b"


def test_recorded_call_plays_on_the_speakers(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    card = sound.card()  # the virtual sound card: its speaker sink is the default output
    w = console.window
    _plans, done = play(console, calls=1, seconds=1.0, speed=0)
    done.result(timeout=10)
    w.tabs.setCurrentWidget(w.history)
    h = w.history
    qtbot.waitUntil(lambda: h.table.rowCount() == 1 and h.calls[0]["state"] == "ended",
                    timeout=15000)
    h.table.selectRow(0)
    qtbot.waitUntil(lambda: h.play_button.isEnabled(), timeout=9000)
    rec = card.record_speakers()
    try:
        h.play_button.click()
        qtbot.waitUntil(lambda: h.play_note.text() not in ("", "Loading the recording…"),
                        timeout=15000)
        note = h.play_note.text()
        assert note.startswith("Playing"), note
        assert "0:01" in note
        assert h.play_button.text() == "Stop"
        qtbot.wait(1500)  # the whole second of it, and the device's latency
    finally:
        heard = rec.stop()
    # The recording peaks at about 23000 (the agent, right); the sink is exactly 0 when idle.
    assert np.abs(heard).max() > 5000, "the recording did not reach the speakers"
    h.play_button.click()
    assert h.play_button.text() == "Play recording"
