"""Themes: the stylesheet in resources/themes and the matching plot colours."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from console.core.events import Role
from console.resources import resource_dir

__all__ = ["Palette", "app_icon", "apply_theme", "palette"]


@dataclass(frozen=True)
class Palette:
    background: str
    panel: str
    grid: str
    text: str
    muted: str
    customer: str
    agent: str
    danger: str
    ok: str
    selected: str  # a selected tile's background (the themes' QFrame#CallTile[selected])

    def role(self, role: Role) -> str:
        return self.customer if role is Role.CUSTOMER else self.agent


_PALETTES = {
    "dark": Palette("#0f1419", "#161b22", "#30363d", "#e6edf3", "#8b949e", "#4fc3f7",
                    "#ffb74d", "#f85149", "#3fb950", "#1a2230"),
    "light": Palette("#f6f8fa", "#ffffff", "#d0d7de", "#1f2328", "#59636e", "#0969da",
                     "#bc4c00", "#cf222e", "#1a7f37", "#eaf2ff"),
}
_current = "dark"


def palette() -> Palette:
    return _PALETTES[_current]


def apply_theme(app: QApplication, name: str) -> Palette:
    global _current
    _current = name if name in _PALETTES else "dark"
    qss = resource_dir() / "themes" / f"{_current}.qss"
    app.setStyleSheet(qss.read_text())
    pal = palette()
    pg.setConfigOptions(background=pal.panel, foreground=pal.muted, antialias=False)
    return pal


def app_icon() -> QIcon:
    return QIcon(str(resource_dir() / "icons" / "coach-console.svg"))
