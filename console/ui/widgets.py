"""Small painted widgets: the per-speaker sentiment gauge and the speaking indicator."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from console.ui.theme import palette

__all__ = ["SentimentGauge", "SpeakingDot", "sentiment_plot"]


def sentiment_plot() -> pg.PlotWidget:
    """A static plot of sentiment (-1..1) over the call's seconds, with a neutral line."""
    plot = pg.PlotWidget()
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.setMouseEnabled(False, False)
    item.setYRange(-1, 1, padding=0.05)
    item.setLabel("left", "sentiment")
    item.setLabel("bottom", "seconds")
    item.addLine(y=0, pen=pg.mkPen(palette().grid))
    plot.setMinimumHeight(110)
    return plot


class SentimentGauge(QWidget):
    """A red-amber-green bar from -1 to 1 with a marker at the smoothed score; the marker
    is solid when the latest line was judged with confidence, faint when it was a guess."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value: float | None = None
        self.confidence: float | None = None
        self.setMinimumSize(60, 10)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Sentiment: waiting for speech")

    def sizeHint(self) -> QSize:
        return QSize(120, 10)

    def set_value(self, value: float | None, confidence: float | None = None) -> None:
        if value is not None:
            value = max(-1.0, min(1.0, value))
        if value != self.value or confidence != self.confidence:
            self.value, self.confidence = value, confidence
            mood = ("no speech yet" if value is None else
                    "negative" if value < -0.25 else "positive" if value > 0.25 else "neutral")
            sure = "" if confidence is None else f", latest line {confidence:.0%} sure"
            self.setToolTip(f"Sentiment: {mood}" + ("" if value is None else
                                                     f" ({value:+.2f}{sure})"))
            self.update()

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(1, 2, -1, -2)
        pal = palette()
        if self.value is None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(pal.grid))
            p.drawRoundedRect(r, 3, 3)
            return
        grad = QLinearGradient(r.left(), 0, r.right(), 0)
        grad.setColorAt(0.0, QColor("#da3633"))
        grad.setColorAt(0.5, QColor("#d29922"))
        grad.setColorAt(1.0, QColor("#2ea043"))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(grad)
        p.setOpacity(0.35)
        p.drawRoundedRect(r, 3, 3)
        p.setOpacity(1.0)
        x = r.left() + (self.value + 1) / 2 * r.width()
        if self.confidence is not None:  # a guess is drawn fainter than a sure reading
            p.setOpacity(0.45 + 0.55 * max(0.0, min(1.0, self.confidence)))
        p.setPen(QPen(QColor(pal.text), 3))
        p.drawLine(int(x), int(r.top()) - 1, int(x), int(r.bottom()) + 1)


class SpeakingDot(QWidget):
    """A dot in the speaker's colour that lights up while they talk."""

    def __init__(self, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = color
        self.on = False
        self.setFixedSize(12, 12)

    def set_on(self, on: bool) -> None:
        if on != self.on:
            self.on = on
            self.update()

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        c = QColor(self.color)
        if not self.on:
            c.setAlpha(60)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c)
        p.drawEllipse(QRectF(1, 1, 10, 10))
