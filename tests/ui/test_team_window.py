"""The window in team mode: calls of an ingest node on the team's bus appear as tiles with
the node's name, and listen, whisper and barge go through the bus with the same keys,
badges and refusals; the node keeps the audit trail with the supervisor's name. Real
nats-server, a real node process, the virtual sound card."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sound
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "team"))
from team_support import Node, end_started, run, simulate, start_bus

pytestmark = pytest.mark.timeout(120)


def test_team_wall_listen_whisper_barge_through_the_bus(qapp, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from console.config import Settings
    from console.ui.app import Console
    from console.ui.theme import apply_theme

    card = sound.card()
    bus = start_bus(tmp_path / "bus")
    node = Node(bus.url(), "east", tmp_path / "node")
    sim = simulate(node.url, "--calls", "1", "--duration", "10", "--seed", "51",
                   "--out", str(tmp_path / "back.json"))
    apply_theme(qapp, "dark")
    settings = Settings(bus_url=bus.url(), data_dir=str(tmp_path / "console"),
                        supervisor_name="Ana Silva").validate()
    console = Console(qapp, settings)
    console.window.show()
    try:
        w = console.window
        qtbot.waitUntil(lambda: len(w.wall.tiles) == 1, timeout=20000)
        call_id, tile = next(iter(w.wall.tiles.items()))
        assert "node east" in tile.subtitle.text()
        assert "Team team on nats://127.0.0.1" in w.endpoint_label.text()
        qtbot.waitUntil(lambda: "1 node(s) east" in w.status_labels["health"].text(),
                        timeout=5000)
        # Connect tells where streams go in a team: the nodes, not this console
        qtbot.waitUntil(lambda: node.url in w.connection.team.text(), timeout=5000)
        assert "east" in w.connection.team.text()
        assert w.connection.url.text() == node.url
        w.wall.select(call_id)
        w.activateWindow()
        w.wall.setFocus()
        audio = console.audio
        assert audio is not None

        heard = card.record_speakers()
        qtbot.keyClick(w.wall, Qt.Key.Key_L)
        qtbot.waitUntil(lambda: tile.mode.text() == "LISTENING", timeout=5000)
        qtbot.waitUntil(lambda: audio.audio_messages > 50, timeout=10000)
        qtbot.waitUntil(lambda: heard.peak() > 1000, timeout=10000)  # the call, on speakers
        heard.stop()

        qtbot.keyPress(w.wall, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda: tile.mode.text() == "WHISPERING", timeout=5000)
        qtbot.waitUntil(lambda: "agent alone" in w.view.audio_note.text(), timeout=5000)
        player = card.play_into_mic((8000 * np.sin(2 * np.pi * 300 * np.arange(48000)
                                                    / 48000)).astype(np.int16))
        qtbot.waitUntil(lambda: audio.frames_sent > 10, timeout=10000)
        player.wait(10)
        qtbot.keyRelease(w.wall, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda: tile.mode.text() == "LISTENING", timeout=5000)

        # One stream on the customer's leg: the node refuses barge and says why.
        qtbot.keyClick(w.wall, Qt.Key.Key_B)
        qtbot.waitUntil(lambda: "Cannot barge" in w.view.audio_note.text(), timeout=5000)
        assert tile.mode.text() != "BARGING"

        qtbot.keyClick(w.wall, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: not tile.mode.isVisible(), timeout=5000)
        sim.communicate(timeout=60)
        back = json.loads((tmp_path / "back.json").read_text())
        media = [m for c in back for s in c["streams"] for m in s["received"]
                 if m.get("event") == "media"]
        assert len(media) > 10  # the supervisor's voice reached the call's stream
        detail = json.loads(run("export", call_id, "--bus", bus.url(), "--format",
                                "json").stdout)
        rows = [(a["action"], a["supervisor"]) for a in detail["audit"]]
        for action in ("listen_start", "whisper_start", "whisper_stop", "barge_refused"):
            assert (action, "Ana Silva") in rows, rows
        # History works from this console: its copy of the team's store has the call.
        w.tabs.setCurrentWidget(w.history)
        qtbot.waitUntil(lambda: w.history.table.rowCount() >= 1, timeout=15000)
        # What the window itself records (an export from History) joins the team's log.
        w._audit(call_id, "export", "json to /tmp/x.json")

        def exported() -> bool:
            rows = json.loads(run("export", call_id, "--bus", bus.url(), "--format",
                                  "json").stdout)["audit"]
            return ("export", "Ana Silva") in [(a["action"], a["supervisor"]) for a in rows]
        qtbot.waitUntil(exported, timeout=10000)
    finally:
        console.shutdown()
        console.window.close()
        console.window.deleteLater()
        if sim.poll() is None:
            sim.kill()
        node.stop()
        end_started()
        bus.stop()
