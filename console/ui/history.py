"""Calls that have ended, read from the store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.store.db import connect, db_path
from console.store.queries import list_calls
from console.ui.call_tile import format_duration

__all__ = ["HistoryPanel"]

COLUMNS = ("Started", "Duration", "From", "To", "Provider", "State", "Call id")


def _read_calls(data_dir: str) -> list[dict[str, Any]] | str:
    path = db_path(data_dir)
    if not path.exists():
        return []
    try:
        conn = connect(path, readonly=True)
        try:
            return list_calls(conn, limit=500)
        finally:
            conn.close()
    except Exception as exc:  # the store is shared with the engine; never crash the UI
        return f"Could not read call history: {exc}"


class HistoryPanel(QWidget):
    loaded = Signal(object)  # list of calls, or an error message

    def __init__(self, data_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        # Reads happen off the UI thread; results come back through a queued signal.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self.loaded.connect(self._show)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel("")
        self.status.setProperty("muted", True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

    def refresh(self) -> None:
        future = self._pool.submit(_read_calls, self.data_dir)
        future.add_done_callback(lambda f: self.loaded.emit(f.result()))

    def _show(self, calls: list[dict[str, Any]] | str) -> None:
        if isinstance(calls, str):
            self.status.setText(calls)
            return
        if not calls:
            self.status.setText("No calls yet.")
            self.table.setRowCount(0)
            return
        self.status.setText(f"{len(calls)} calls, newest first. Exports: "
                            "coach-console export CALL_ID --format json|wav")
        self.table.setRowCount(len(calls))
        for row, c in enumerate(calls):
            started = c["started_at"] or ""
            local = (datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone()
                     .strftime("%Y-%m-%d %H:%M:%S") if started else "")
            values = (local, format_duration(c["duration_s"]) if c["duration_s"] else "live",
                      c["from"] or "", c["to"] or "", c["provider"], c["state"], c["id"])
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, col, item)
