"""Calls that have ended, read from the store."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
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


class HistoryPanel(QWidget):
    def __init__(self, data_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
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
        path = db_path(self.data_dir)
        if not path.exists():
            self.status.setText("No calls yet.")
            return
        try:
            conn = connect(path, readonly=True)
            try:
                calls = list_calls(conn, limit=500)
            finally:
                conn.close()
        except Exception as exc:  # the store is shared with the engine; never crash the UI
            self.status.setText(f"Could not read call history: {exc}")
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
