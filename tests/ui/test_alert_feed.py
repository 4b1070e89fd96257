"""The alert feed through the real window: a demo call through real speech recognition and
meaning raises alerts; the supervisor acknowledges and snoozes them with the feed's keys;
the feed, the notifications, the audit rows in the SQLite file and the exports follow. Then
the optional tone for critical alerts, on the virtual sound card."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import pytest
import sound
from PySide6.QtCore import Qt
from ui_helpers import play

from console.core.events import AlertRaised, Role
from console.store.db import connect, db_path
from console.store.exports import render
from console.store.queries import call_detail

pytestmark = pytest.mark.timeout(600)


def _click_row(qtbot, feed, key: str) -> None:  # type: ignore[no-untyped-def]
    item, _row = feed.rows[key]
    feed.list.clearSelection()
    qtbot.mouseClick(feed.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=feed.list.visualItemRect(item).center())
    assert [e.key for e in feed.selected()] == [key]


def _key_of(feed, rule: str, call_id: str) -> str:  # type: ignore[no-untyped-def]
    return next(k for k, e in feed.book.entries.items()
                if e.alert.rule == rule and e.alert.call_id == call_id)


def test_alert_feed_acknowledge_snooze_audit_and_export(qapp, settings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from console.ui.app import Console
    from console.ui.theme import apply_theme

    apply_theme(qapp, "dark")
    settings.transcribe = True
    settings.stt_workers = 1
    settings.supervisor_name = "Ana Silva"
    c = Console(qapp, settings)
    w = c.window
    w.ended_linger_ms = 600_000  # the call stays on the wall: the feed jumps to it
    w.show()
    feed = w.alert_feed
    try:
        assert c.engine.loop is not None
        ready = asyncio.run_coroutine_threadsafe(c.engine.transcription_ready(),
                                                 c.engine.loop).result(timeout=300)
        assert ready.startswith("on"), ready
        assert feed.empty.isVisible() and feed.list.count() == 0
        plans, done = play(c, calls=1, seconds=26, speed=3.0, dialogue="angry-double-charge")
        call_id = plans[0].call_key
        # Real speech recognition and meaning: "You charged me twice", "I'm cancelling my
        # account", "Get me a manager".
        qtbot.waitUntil(lambda: {"cancellation", "escalation", "payment_dispute"}
                        <= {e.alert.rule for e in feed.book.entries.values()}, timeout=300000)
        done.result(timeout=120)

        # Newest first, each row with its call, rule, words, time, severity and state.
        order = [feed.list.item(i).data(Qt.ItemDataRole.UserRole)
                 for i in range(feed.list.count())]
        assert order == list(reversed(feed.book.entries))
        cancel = _key_of(feed, "cancellation", call_id)
        _item, row = feed.rows[cancel]
        alert = feed.book.entries[cancel].alert
        assert row.badge.text() == "cancellation" and row.badge.property("badge") == "critical"
        assert row.property("severity") == "critical"
        assert row.title.text() == w.model.calls[call_id].title
        assert row.words.text() == f"“{alert.text}”" and "cancel" in alert.text.lower()
        assert row.state.text() == "NEW" and row.when.text().count(":") == 2
        assert not feed.empty.isVisible()
        assert cancel in feed.notified  # critical and nobody snoozed it: the supervisor heard
        assert feed.counts.text().startswith(f"{feed.book.count('new')} new of ")

        # A acknowledges the selected alert.
        w.activateWindow()
        _click_row(qtbot, feed, cancel)
        qtbot.keyClick(feed.list, Qt.Key.Key_A)
        assert feed.book.entries[cancel].state == "acknowledged"
        assert row.state.text() == "ACK · Ana Silva"

        # S snoozes the rule for this call: the row folds to a dimmed line, and the rule
        # firing again on this call neither notifies nor shows as new.
        escalation = _key_of(feed, "escalation", call_id)
        _click_row(qtbot, feed, escalation)
        qtbot.keyClick(feed.list, Qt.Key.Key_S)
        esc_row = feed.rows[escalation][1]
        assert feed.book.entries[escalation].state == "snoozed"
        assert esc_row.words.isHidden() and esc_row.graphicsEffect().isEnabled()
        notified = len(feed.notified)
        w.statusBar().showMessage("quiet")
        c.engine.bus.publish(AlertRaised(call_id, "escalation", Role.CUSTOMER, 33.0,
                                         "get me your manager now", "warning"))
        again = f"{call_id}|escalation|33.00"
        qtbot.waitUntil(lambda: again in feed.rows, timeout=5000)
        assert feed.book.entries[again].state == "snoozed"
        assert len(feed.notified) == notified and w.statusBar().currentMessage() == "quiet"

        # E, then the menu: snoozed for everyone for 15 minutes.
        dispute = _key_of(feed, "payment_dispute", call_id)
        _click_row(qtbot, feed, dispute)
        qtbot.keyClick(feed.list, Qt.Key.Key_E)
        qtbot.waitUntil(lambda: feed.team_menu.isVisible(), timeout=3000)
        qtbot.keyClick(feed.team_menu, Qt.Key.Key_Down)
        assert feed.team_menu.activeAction().text() == "15 minutes"
        qtbot.keyClick(feed.team_menu, Qt.Key.Key_Return)
        assert not feed.team_menu.isVisible()
        w.activateWindow()  # the menu had the keyboard (a desktop gives it back by itself)
        qtbot.waitUntil(w.isActiveWindow, timeout=3000)
        snooze = feed.book.team_snoozes["payment_dispute"]
        assert snooze.by == "Ana Silva" and 14 * 60 < snooze.until - time.time() <= 15 * 60
        assert feed.snoozes.isVisible() and "payment dispute until" in feed.snoozes.text()
        c.engine.bus.publish(AlertRaised(call_id, "payment_dispute", Role.CUSTOMER, 34.0,
                                         "charged twice again", "warning"))
        qtbot.waitUntil(lambda: f"{call_id}|payment_dispute|34.00" in feed.rows, timeout=5000)
        assert feed.book.entries[f"{call_id}|payment_dispute|34.00"].state == "snoozed"
        assert len(feed.notified) == notified

        # Sixteen minutes on (the feed's clock): the snooze is over and says so.
        feed.now = lambda: time.time() + 16 * 60
        w.tick_slow()
        assert "payment_dispute" not in feed.book.team_snoozes and not feed.snoozes.isVisible()
        assert w.statusBar().currentMessage() == \
            "Snooze over: payment dispute alerts notify again."
        c.engine.bus.publish(AlertRaised(call_id, "payment_dispute", Role.CUSTOMER, 35.0,
                                         "I was charged twice", "warning"))
        fresh = f"{call_id}|payment_dispute|35.00"
        qtbot.waitUntil(lambda: fresh in feed.rows, timeout=5000)
        assert feed.book.entries[fresh].state == "new" and fresh in feed.notified
        assert w.statusBar().currentMessage().startswith("Payment dispute on")

        # G (or Enter) jumps to the call: selected on the wall, open in the call view.
        others, other_done = play(c, calls=1, seconds=3.0, seed=7)
        qtbot.waitUntil(lambda: others[0].call_key in w.wall.tiles, timeout=15000)
        w.wall.select(others[0].call_key)
        assert w.view.call is not None and w.view.call.id != call_id
        _click_row(qtbot, feed, cancel)
        qtbot.keyClick(feed.list, Qt.Key.Key_G)
        assert w.wall.selected == call_id and w.view.call.id == call_id
        w.wall.select(others[0].call_key)
        qtbot.keyClick(feed.list, Qt.Key.Key_Return)
        assert w.wall.selected == call_id
        other_done.result(timeout=20)

        # The audit trail in the real SQLite file: who did what, with the alert.
        def audit() -> list[tuple[str, str, str]]:
            conn = connect(db_path(settings.data_path()), readonly=True)
            try:
                return [(r["action"], r["supervisor"], r["detail"]) for r in conn.execute(
                    "SELECT * FROM audit WHERE call_id = ? AND action LIKE 'alert_%' "
                    "ORDER BY id", (call_id,))]
            finally:
                conn.close()

        qtbot.waitUntil(lambda: len(audit()) == 3, timeout=10000)
        rows = audit()
        assert [(a, s) for a, s, _ in rows] == [("alert_acknowledged", "Ana Silva"),
                                                ("alert_snoozed", "Ana Silva"),
                                                ("alert_snoozed", "Ana Silva")]
        assert rows[0][2].startswith(f"rule=cancellation at_s={alert.at_s:.2f} · “")
        assert rows[1][2] == "rule=escalation scope=call · for this call"
        assert rows[2][2].startswith("rule=payment_dispute scope=everyone until=")
        conn = connect(db_path(settings.data_path()), readonly=True)
        try:
            stored = conn.execute("SELECT COUNT(*) FROM alerts WHERE call_id = ? AND "
                                  "rule = 'escalation' AND at_s = 33.0", (call_id,)).fetchone()[0]
            detail = call_detail(conn, call_id)
        finally:
            conn.close()
        assert stored == 1  # snoozed alerts are still kept

        # Exports: JSON's audit section, a TXT line each, CSV rows of their own kind.
        exported = json.loads(render(detail, "json"))
        actions = [a for a in exported["audit"] if a["action"].startswith("alert_")]
        assert [a["action"] for a in actions] == ["alert_acknowledged", "alert_snoozed",
                                                  "alert_snoozed"]
        assert all(a["supervisor"] == "Ana Silva" for a in actions)
        txt = render(detail, "txt")
        assert "ALERT ACTION Ana Silva acknowledged cancellation (said at 00:" in txt
        assert "ALERT ACTION Ana Silva snoozed escalation for this call" in txt
        assert "ALERT ACTION Ana Silva snoozed payment dispute for everyone until 20" in txt
        table = list(csv.DictReader(io.StringIO(render(detail, "csv"))))
        kinds = [r["kind"] for r in table if r["kind"].startswith("alert_")]
        assert kinds == ["alert_acknowledged", "alert_snoozed", "alert_snoozed"]
        ack = next(r for r in table if r["kind"] == "alert_acknowledged")
        assert ack["supervisor"] == "Ana Silva" and ack["call_id"] == call_id
        assert "acknowledged cancellation" in ack["text"] and float(ack["start_s"]) > 0
    finally:
        c.shutdown()
        w.close()


def test_alert_feed_tone_lift_and_settings(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The tone for critical alerts (off by default) plays on the output device without
    holding the window; a snoozed rule plays nothing; U lifts a snooze."""
    from dataclasses import replace

    from console.config import ConfigError
    from console.ui.settings_dialog import SettingsDialog

    card = sound.card()
    w = console.window
    feed = w.alert_feed
    plans, done = play(console, calls=1, seconds=4.0)
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: call_id in w.wall.tiles, timeout=15000)
    bus = console.engine.bus
    bus.publish(AlertRaised(call_id, "legal_threat", Role.CUSTOMER, 1.0, "my solicitor",
                            "critical"))
    qtbot.waitUntil(lambda: len(feed.rows) == 1, timeout=5000)
    assert feed.chime.played == 0  # off unless the supervisor turns it on

    dialog = SettingsDialog(w.settings, parent=w)
    assert not dialog.alert_sound.isChecked()
    dialog.alert_sound.setChecked(True)
    dialog.shift_end.setText("25:00")
    with pytest.raises(ConfigError, match="shift_end"):
        dialog.collect()
    dialog.shift_end.setText("18:30")
    new = dialog.collect()
    assert new.alert_sound and new.shift_end == "18:30"
    dialog.deleteLater()
    console.apply_settings(replace(new))
    assert w.settings.alert_sound

    heard = card.record_speakers()
    bus.publish(AlertRaised(call_id, "legal_threat", Role.CUSTOMER, 2.0, "take you to court",
                            "critical"))
    qtbot.waitUntil(lambda: feed.chime.played == 1, timeout=10000)
    qtbot.waitUntil(lambda: heard.peak() > 3000, timeout=5000)  # the tone, on the speakers
    heard.stop()

    # Snoozed for this call (S), the next one is listed but rings nothing; U lifts it.
    key = f"{call_id}|legal_threat|2.00"
    w.activateWindow()
    _click_row(qtbot, feed, key)
    qtbot.keyClick(feed.list, Qt.Key.Key_S)
    feed.chime.min_gap_s = 0.0
    bus.publish(AlertRaised(call_id, "legal_threat", Role.CUSTOMER, 3.0, "see you in court",
                            "critical"))
    qtbot.waitUntil(lambda: f"{call_id}|legal_threat|3.00" in feed.rows, timeout=5000)
    qtbot.wait(300)
    assert feed.chime.played == 1
    _click_row(qtbot, feed, key)
    assert feed.lift_button.isEnabled()
    qtbot.keyClick(feed.list, Qt.Key.Key_U)
    assert (call_id, "legal_threat") not in feed.book.call_snoozes
    bus.publish(AlertRaised(call_id, "legal_threat", Role.CUSTOMER, 4.0, "my attorney",
                            "critical"))
    qtbot.waitUntil(lambda: feed.chime.played == 2, timeout=10000)
    # The arrows walk the alerts while the feed has the keyboard (elsewhere, the tiles).
    feed.list.setCurrentRow(0)
    qtbot.keyClick(feed.list, Qt.Key.Key_Down)
    assert feed.list.currentRow() == 1
    done.result(timeout=15)
