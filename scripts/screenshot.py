"""Runs the console with demo calls and saves PNGs of what a supervisor sees.

Run through scripts/screenshot (which starts Xvfb) so the window is a real X11 window."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from console import APP_ID
from console.config import Settings
from console.core.events import AlertRaised, Role, SentimentSample, TranscriptSegment
from console.ui.app import Console
from console.ui.history import COLUMNS
from console.ui.theme import app_icon, apply_theme


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--theme", default="dark")
    ap.add_argument("--wait", type=float, default=12.0, help="seconds of demo before shots")
    ap.add_argument("--annotate", action="store_true",
                    help="add sample transcript/sentiment events to show those views")
    ap.add_argument("--shift", action="store_true",
                    help="a supervisor's shift: the wall sorted by risk, the alert feed, a "
                         "past call's scorecard and the Agents tab (give the demo a minute "
                         "or more with --wait, so calls have ended and been scored)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    QApplication.setDesktopFileName(APP_ID)
    app = QApplication(sys.argv)
    app.setWindowIcon(app_icon())
    apply_theme(app, args.theme)
    settings = Settings(port=0, data_dir=tempfile.mkdtemp(), token="demo-token-not-secret",
                        theme=args.theme).validate()
    console = Console(app, settings)
    w = console.window
    w.resize(1600, 960)
    w.show()
    console.set_demo(True)
    suffix = "" if args.theme == "dark" else f"-{args.theme}"

    def annotate() -> None:
        if not args.annotate or not w.wall.selected:
            return
        call = w.wall.selected
        bus = console.engine.bus
        lines = [(Role.AGENT, "Thank you for calling, this is Maya, how can I help?", 0.2),
                 (Role.CUSTOMER, "I was charged twice for my subscription this month.", -0.5),
                 (Role.AGENT, "I'm sorry about that, let me look at your account.", 0.3),
                 (Role.CUSTOMER, "This is the third time, I want a refund or I cancel.", -0.8)]
        t = 0.5
        for i, (who, text, score) in enumerate(lines):
            bus.publish(TranscriptSegment(call, f"shot{i}", who, t, t + 2.5, text, True, score))
            bus.publish(SentimentSample(call, who, t + 2.5, score))
            t += 3.0
        bus.publish(TranscriptSegment(call, "shot-live", Role.AGENT, t, t + 1, "I can see",
                                      False))
        bus.publish(AlertRaised(call, "cancellation", Role.CUSTOMER, t, "or I cancel",
                                "critical"))
        if console.audio is not None:  # the supervisor whispering (needs a sound system)
            console.audio.request(call, "whisper")

    def shoot() -> None:
        w.grab().save(str(out / f"wall{suffix}.png"))
        w.view.grab().save(str(out / f"call-view{suffix}.png"))
        if args.shift:
            w.wall_bar.sort_buttons["risk"].click()
            QTimer.singleShot(600, shift_wall)
            return
        connect_tab()

    def connect_tab() -> None:
        w.tabs.setCurrentWidget(w.connection)
        QTimer.singleShot(300, finish)

    def shift_wall() -> None:
        w.grab().save(str(out / f"shift-wall{suffix}.png"))
        w.alert_feed.grab().save(str(out / f"alert-feed{suffix}.png"))
        w.tabs.setCurrentWidget(w.agents)
        QTimer.singleShot(1500, shift_agents)

    def shift_agents() -> None:
        w.grab().save(str(out / f"agents{suffix}.png"))
        w.tabs.setCurrentWidget(w.history)
        QTimer.singleShot(1500, shift_history)

    def shift_history() -> None:
        table, score, key = w.history.table, COLUMNS.index("Score"), COLUMNS.index("Call id")
        scored = [r for r in range(table.rowCount()) if table.item(r, score) is not None
                  and table.item(r, score).text().strip() not in ("", "—")]
        call_id = table.item(scored[0] if scored else 0, key).text()
        w.history.open_call(call_id)
        QTimer.singleShot(1500, shift_scorecard)

    def shift_scorecard() -> None:
        w.grab().save(str(out / f"history-scorecard{suffix}.png"))
        w.history.scorecard.grab().save(str(out / f"scorecard{suffix}.png"))
        connect_tab()

    def finish() -> None:
        w.grab().save(str(out / f"connect{suffix}.png"))
        console.shutdown()
        app.quit()

    QTimer.singleShot(int(args.wait * 1000) - 1500, annotate)
    QTimer.singleShot(int(args.wait * 1000), shoot)
    app.exec()
    print(f"saved screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
