"""The wall tile's waveform (console/ui/waveform.py TileWaveform), rendered for real
offscreen: each track's peaks become bars on its own half, silence a thin line, and the
widget paints its own background (it is opaque for speed), which follows the tile's
selection and the theme. Also the live page's pane widths (main_window.live_pane_sizes)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QImage

from console.audio.ring import RingBuffer
from console.core.events import Role
from console.ui.call_wall import TILE_WIDTH
from console.ui.main_window import live_pane_sizes
from console.ui.theme import apply_theme, palette
from console.ui.waveform import TileWaveform

W, H = 320, 64


def _render(wave: TileWaveform) -> QImage:
    wave.resize(W, H)
    return wave.grab().toImage()


def _column(img: QImage, x: int) -> list[QColor]:
    return [img.pixelColor(x, y) for y in range(H)]


def test_tile_waveform_draws_each_track_on_its_half(qapp) -> None:  # type: ignore[no-untyped-def]
    apply_theme(qapp, "dark")
    pal = palette()
    customer, agent = RingBuffer(8.0, 8000), RingBuffer(8.0, 8000)
    wave = TileWaveform(seconds=4.0, columns=160)
    # Four seconds: the customer loud for the last two, the agent silent throughout.
    customer.write(np.zeros(16000, np.int16))
    customer.write((np.sin(np.arange(16000) * 0.3) * 12000).astype(np.int16))
    agent.write(np.zeros(32000, np.int16))
    wave.update_from({Role.CUSTOMER: customer, Role.AGENT: agent})
    img = _render(wave)

    blue, amber, bg = QColor(pal.customer), QColor(pal.agent), QColor(pal.panel)
    late = _column(img, int(W * 0.9))  # a column from the loud half
    early = _column(img, int(W * 0.1))
    # The loud customer fills most of the top half around its centre line (H / 4)...
    assert sum(c == blue for c in late[: H // 2]) >= H // 4
    assert all(c != amber for c in late[: H // 2])
    # ...the agent's half holds only its one-pixel silence line.
    assert 1 <= sum(c == amber for c in late[H // 2:]) <= 2
    assert sum(c == blue for c in early) <= 2  # the customer's silence before it
    # Opaque: every pixel is painted, the background in the theme's tile colour.
    assert sum(c == bg for c in late) + sum(c == blue for c in late) + sum(
        c == amber for c in late) == H
    assert sum(c == bg for c in late) >= H // 4  # (the quarter far from the bars)


def test_tile_waveform_background_follows_selection_and_theme(qapp) -> None:  # type: ignore[no-untyped-def]
    apply_theme(qapp, "dark")
    wave = TileWaveform()
    assert _render(wave).pixelColor(1, 1) == QColor(palette().panel)
    wave.set_selected(True)
    assert _render(wave).pixelColor(1, 1) == QColor(palette().selected)
    try:
        apply_theme(qapp, "light")  # a style change reaches the widget
        light = palette()
        qapp.processEvents()
        assert _render(wave).pixelColor(1, 1) == QColor(light.selected)
        wave.set_selected(False)
        assert _render(wave).pixelColor(1, 1) == QColor(light.panel) == QColor("#ffffff")
    finally:
        apply_theme(qapp, "dark")


def test_live_panes_give_the_room_to_the_wall() -> None:
    for width in (1280, 1920, 2560, 3840):
        wall, view, feed = live_pane_sizes(width)
        assert wall + view + feed >= width - 1
        assert wall >= TILE_WIDTH and 280 <= feed <= 420 and 440 <= view <= 1000
    wall, view, feed = live_pane_sizes(3840)
    assert wall // TILE_WIDTH >= 6  # six columns of tiles: 36 calls in six rows
    assert live_pane_sizes(3840)[1:] == live_pane_sizes(5120)[1:]  # more room: to the wall

