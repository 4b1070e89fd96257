"""Renders the app's SVG icon to the PNG sizes desktops ask for (run with the venv python)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
APP_ID = "com.coachconsole.CoachConsole"


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs one for painting
    renderer = QSvgRenderer(str(HERE / "icons" / f"{APP_ID}.svg"))
    if not renderer.isValid():
        print("the SVG icon does not load", file=sys.stderr)
        return 1
    for size in (128, 256):
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        target = HERE / "icons" / f"{APP_ID}-{size}.png"
        image.save(str(target))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
