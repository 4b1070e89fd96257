"""Live waveforms drawn from the tracks' ring buffers: peak-downsampled into columns (each a
vertical min-max stroke), customer above the centre line, agent below."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from console.audio.ring import RingBuffer
from console.core.events import Role
from console.ui.theme import palette

__all__ = ["WaveformPlot", "level", "peaks"]


def peaks(samples: npt.NDArray[np.int16], columns: int) -> tuple[npt.NDArray[np.float32],
                                                                  npt.NDArray[np.float32]]:
    """Min and max of each of `columns` equal slices, scaled to -1..1."""
    usable = samples.size - samples.size % columns
    block = samples[samples.size - usable :].reshape(columns, -1)
    return (block.min(axis=1).astype(np.float32) / 32768.0,
            block.max(axis=1).astype(np.float32) / 32768.0)


def level(ring: RingBuffer | None, seconds: float = 0.15) -> float:
    """RMS of the last moment of a track, 0..1 (0 when there is no track)."""
    if ring is None or ring.written == 0:
        return 0.0
    x = ring.latest(max(1, int(ring.rate * seconds))).astype(np.float32)
    return float(np.sqrt(np.mean(x * x)) / 32768.0)


class WaveformPlot(pg.PlotWidget):  # type: ignore[misc]
    def __init__(self, seconds: float = 4.0, columns: int = 160,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.seconds = seconds
        self.columns = columns
        self.gain = 3.0  # speech sits well below full scale; make it visible
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(False, False)
        item.setXRange(0, columns, padding=0)
        item.setYRange(-2.05, 2.05, padding=0)
        self.setContentsMargins(0, 0, 0, 0)
        item.layout.setContentsMargins(0, 0, 0, 0)
        pal = palette()
        self.setBackground(None)  # take the colour of the tile or panel behind it
        self.setStyleSheet("background: transparent;")
        item.addLine(y=0, pen=pg.mkPen(pal.grid, width=1))
        x = np.repeat(np.arange(columns, dtype=np.float32) + 0.5, 2)
        self._x = x
        self._y = {role: np.zeros(columns * 2, np.float32) for role in Role}
        self._offset = {Role.CUSTOMER: 1.0, Role.AGENT: -1.0}
        self._curves = {
            role: self.plot(x, self._y[role] + self._offset[role], connect="pairs",
                            pen=pg.mkPen(pal.role(role), width=2))
            for role in Role
        }
        self._silent = dict.fromkeys(Role, True)

    def update_from(self, rings: dict[Role, RingBuffer | None]) -> None:
        for role, curve in self._curves.items():
            ring = rings.get(role)
            y = self._y[role]
            if ring is None or ring.written == 0:
                if not self._silent[role]:
                    y[:] = 0
                    curve.setData(self._x, y + self._offset[role], connect="pairs")
                    self._silent[role] = True
                continue
            n = int(self.seconds * ring.rate)
            lo, hi = peaks(ring.latest(n - n % self.columns), self.columns)
            y[0::2] = np.clip(lo * self.gain, -0.95, 0.0)
            y[1::2] = np.clip(hi * self.gain, 0.0, 0.95)
            y[1::2] = np.maximum(y[1::2], y[0::2] + 0.01)  # a hairline where it is silent
            curve.setData(self._x, y + self._offset[role], connect="pairs")
            self._silent[role] = False
