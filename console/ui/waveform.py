"""Live waveforms drawn from the tracks' ring buffers: peak-downsampled into columns (each a
vertical min-max bar), the customer on the upper half, the agent on the lower.

Each track keeps a rolling history of column peaks and only reads the samples that arrived
since the last refresh, so a refresh costs about one column of work per track."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import QWidget
from shiboken6 import wrapInstance

from console.audio.ring import RingBuffer
from console.core.events import Role
from console.ui.theme import palette

__all__ = ["PeakHistory", "TileWaveform"]

RECENT_COLUMNS = 4  # what "speaking now" is judged over (0.16 s at the tiles' 25 columns/s)
_LEAST, _MOST = np.minimum.reduce, np.maximum.reduce


class PeakHistory:
    """The last `columns` column peaks of one ring buffer, advanced incrementally."""

    def __init__(self, ring: RingBuffer, seconds: float, columns: int) -> None:
        self.ring = ring
        self.columns = columns
        self.per_column = max(1, int(seconds * ring.rate / columns))
        self.lo = np.zeros(columns, np.float32)
        self.hi = np.zeros(columns, np.float32)
        self.pos = ring.written - ring.written % self.per_column  # column-aligned
        self._buf = np.zeros(columns * self.per_column, np.int16)
        self._recent = 0.0

    def advance(self) -> bool:
        """Take in whole new columns; False when none completed since last time."""
        k = (self.ring.written - self.pos) // self.per_column
        if k <= 0:
            return False
        k = min(k, self.columns)
        n = k * self.per_column
        start = self.ring.written - (self.ring.written - self.pos) % self.per_column - n
        buf = self._buf[:n]
        self.ring.read_into(buf, start)
        block = buf.reshape(k, self.per_column)
        lo, hi = self.lo, self.hi
        lo[:-k] = lo[k:]
        hi[:-k] = hi[k:]
        # The ufuncs' own reduce: this runs for every track 30 times a second, and the
        # array methods' Python wrappers cost more than the work on a few hundred samples.
        np.multiply(_LEAST(block, axis=1), 1 / 32768.0, out=lo[-k:])
        np.multiply(_MOST(block, axis=1), 1 / 32768.0, out=hi[-k:])
        self.pos = start + n
        # The speaking light reads this every refresh: worked out once per new column.
        self._recent = max(float(_MOST(hi[-RECENT_COLUMNS:])),
                           -float(_LEAST(lo[-RECENT_COLUMNS:])))
        return True

    @classmethod
    def following(cls, ring: RingBuffer, seconds: float, columns: int,
                  current: PeakHistory | None) -> PeakHistory:
        """The history for `ring`: the current one if it follows that ring, else a new one
        that starts a full window back so the plot fills at once."""
        if current is not None and current.ring is ring:
            return current
        hist = cls(ring, seconds, columns)
        hist.pos = max(0, ring.written - columns * hist.per_column)
        hist.pos -= hist.pos % hist.per_column
        return hist

    def recent_peak(self) -> float:
        """Loudest sample of the newest columns (0..1): the speaking indicator's measure."""
        return self._recent


class TileWaveform(QWidget):
    """A live waveform: a wall tile's, and larger, the call view's. Painted straight onto a
    plain widget (no graphics scene, which is what many tiles on screen cost most): each
    column is a filled bar in a NumPy array of rectangles that QPainter reads in place
    (filling rectangles is far cheaper than stroking lines). On the wall it paints its own
    background, so a refresh repaints this strip and nothing under it; that background and
    the colours follow the tile's selection and the theme (`set_selected`, a style change)."""

    BAR_PX = 2.0

    def __init__(self, seconds: float = 4.0, columns: int = 160, opaque: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.columns = columns
        self.gain = 3.0
        self.selected = False
        # Opaque on the wall (many of them, each repainted 30 times a second); the call
        # view's single one lets its panel show through instead.
        self.opaque = opaque
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, opaque)
        self.background = QColor()
        self._brushes: dict[Role, QBrush] = {}
        self.restyle()
        self._history: dict[Role, PeakHistory | None] = dict.fromkeys(Role)
        self._silent = np.zeros(columns, np.float32)
        self._hi = np.zeros(columns, np.float32)  # scratch for one track's scaled peaks
        self._lo = np.zeros(columns, np.float32)
        # (x, y, width, height) per column in widget pixels, laid out as QRectF arrays are.
        self._rects = {role: np.zeros((columns, 4), np.float64) for role in Role}
        # The arrays are never reallocated: their QRectF views are made once.
        self._views = [(role, wrapInstance(self._rects[role].ctypes.data, QRectF))
                       for role in (Role.CUSTOMER, Role.AGENT)]
        self._stale = True  # the bars no longer match the peaks or the size
        self._geometry = (0, 0)

    def restyle(self) -> None:
        pal = palette()
        self.background = QColor(pal.selected if self.selected else pal.panel)
        self._brushes = {role: QBrush(QColor(pal.role(role))) for role in Role}
        self.update()

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.restyle()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.StyleChange:  # the theme was switched
            self.restyle()
        super().changeEvent(event)

    def update_from(self, rings: dict[Role, RingBuffer | None]) -> None:
        changed = False
        for role in Role:
            ring = rings.get(role)
            hist = self._history[role]
            if ring is None:
                if hist is not None:  # the track went away: flat from now on
                    self._history[role] = None
                    changed = True
                continue
            hist = self._history[role] = PeakHistory.following(ring, self.seconds,
                                                               self.columns, hist)
            changed |= hist.advance()
        if changed:
            self._stale = True
            self.update()

    def level(self, role: Role) -> float:
        hist = self._history[role]
        return hist.recent_peak() if hist is not None else 0.0

    def _layout(self, w: int, h: int) -> None:
        if (w, h) != self._geometry:
            self._geometry = (w, h)
            x = (np.arange(self.columns, dtype=np.float64) + 0.5) * (w / self.columns)
            for rects in self._rects.values():
                rects[:, 0] = x - self.BAR_PX / 2
                rects[:, 2] = self.BAR_PX
        half = h / 4.0  # each track gets half the height, centred on its own line
        hi, lo = self._hi, self._lo
        for role, centre in ((Role.CUSTOMER, h * 0.25), (Role.AGENT, h * 0.75)):
            hist = self._history[role]
            rects = self._rects[role]
            np.multiply(hist.hi if hist else self._silent, self.gain, out=hi)
            np.minimum(hi, 0.95, out=hi)
            np.maximum(hi, 0.0, out=hi)
            np.multiply(hist.lo if hist else self._silent, self.gain, out=lo)
            np.maximum(lo, -0.95, out=lo)
            np.minimum(lo, 0.0, out=lo)
            np.subtract(hi, lo, out=lo)  # lo now holds the bar's extent
            np.multiply(hi, -half, out=rects[:, 1])
            rects[:, 1] += centre
            np.multiply(lo, half, out=rects[:, 3])
            np.maximum(rects[:, 3], 1.0, out=rects[:, 3])  # silence: a one-pixel line
        self._stale = False

    def paintEvent(self, _event: object) -> None:
        w, h = self.width(), self.height()
        if self._stale or (w, h) != self._geometry:
            self._layout(w, h)
        p = QPainter(self)
        if self.opaque:
            p.fillRect(self.rect(), self.background)
        p.setPen(Qt.PenStyle.NoPen)
        for role, view in self._views:
            p.setBrush(self._brushes[role])
            p.drawRects(view, self.columns)  # the array read in place: no object per bar
        p.end()
