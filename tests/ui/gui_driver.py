"""Runs the real console window (`coach-console` command line) in a process of its own and
drives it like a supervisor: Settings is opened from its toolbar action `times` times and
cancelled, the last one left open with `open`, then the main window is closed.

Usage: python gui_driver.py TIMES closed|open [coach-console flags...]
Prints "settings shown N" once the window is closed. Used by test_gui_process.py."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QMainWindow

# The console of the checkout these tests belong to, whatever is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from console.cli import main


def drive(app: QApplication, times: int, leave_open: bool) -> None:
    shown = 0

    def window() -> QMainWindow:
        return next(w for w in app.topLevelWidgets() if isinstance(w, QMainWindow))

    def dialogs() -> list[QDialog]:
        return [w for w in app.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]

    def open_settings(left: int) -> None:
        w = window()
        action = next(a for a in w.findChildren(QAction) if a.text() == "Settings")
        # Armed first: an application that runs the dialog modally returns from trigger()
        # only once the dialog has closed.
        QTimer.singleShot(300, lambda: settings_shown(left - 1))
        action.trigger()

    def settings_shown(left: int) -> None:
        nonlocal shown
        shown += len(dialogs())
        if left > 0 or not leave_open:
            for d in dialogs():
                d.reject()
        if left > 0:
            QTimer.singleShot(200, lambda: open_settings(left))
        else:
            QTimer.singleShot(200, close)

    def close() -> None:
        print(f"settings shown {shown}", flush=True)
        window().close()

    QTimer.singleShot(500, lambda: open_settings(times))
    # Never hang a test run: a window that did not close by now is a failure.
    QTimer.singleShot(30000, lambda: (print("driver timed out", flush=True), app.quit()))


if __name__ == "__main__":
    count, mode, *flags = sys.argv[1:]
    qapp = QApplication(sys.argv[:1])
    drive(qapp, int(count), mode == "open")
    raise SystemExit(main(flags))
