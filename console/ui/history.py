"""Past calls from the store: search their transcripts, read one back, play its recording,
export one or many. Every read and export runs off the UI thread."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.audio.devices import AudioDeviceError
from console.store.db import connect, db_path
from console.store.export_wav import NotRecorded, call_audio, export_wav
from console.store.exports import FORMATS, file_name, render
from console.store.queries import HIT_END, HIT_START, call_detail, list_calls
from console.store.scorecards import items_of
from console.ui.call_tile import format_duration
from console.ui.model import topic_label
from console.ui.notes_panel import NotesPanel, notes_cell, past_lines
from console.ui.playback import RecordingPlayer
from console.ui.scorecard_panel import ScorecardPanel, score_text
from console.ui.theme import palette
from console.ui.widgets import sentiment_plot

__all__ = ["HistoryPanel"]

COLUMNS = ("Started", "Duration", "From", "To", "Provider", "Topic", "State",
           "Customer mood", "Alerts", "Score", "Notes", "Match", "Call id")
PERIODS = {"All time": None, "Today": "today", "Last 7 days": 7, "Last 30 days": 30}


def _local(ts: str | None) -> str:
    if not ts:
        return ""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone().strftime(
        "%Y-%m-%d %H:%M:%S")


def _mood(score: float | None) -> str:
    if score is None:
        return "—"
    word = "negative" if score < -0.25 else "positive" if score > 0.25 else "neutral"
    return f"{score:+.2f} {word}"


def _highlight(snippet: str) -> str:
    pal = palette()
    text = html.escape(snippet)
    return (text.replace(HIT_START, f"<b style='color:{pal.customer}'>")
            .replace(HIT_END, "</b>"))


def _since(period: str | int | None) -> float | None:
    if period is None:
        return None
    if period == "today":
        t = time.localtime()
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.time() - int(period) * 86400


class HistoryPanel(QWidget):
    loaded = Signal(object)  # list of calls, or an error message
    detailLoaded = Signal(object)  # one call's detail, or an error message
    exportProgress = Signal(int, int, str)  # done, total, last message
    audit = Signal(str, str, str)  # call id, action, detail: for the audit trail
    playbackStarted = Signal(int, object)  # playback number, its player or why it cannot
    playbackEnded = Signal(int, str)  # playback number, "" at the end or what went wrong

    # Team mode: the recorded call's WAV from the team's bus (blocking; from worker threads).
    remote_audio: Callable[[str], bytes] | None = None

    def __init__(self, data_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.calls: list[dict[str, Any]] = []
        self.detail: dict[str, Any] | None = None
        self._query = ""
        # One worker: reads and exports run in order, off the UI thread; results come back
        # through queued signals.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        # Playback has a worker of its own, so that Stop never waits behind an export; it
        # opens, feeds and closes the sound device, in order, off the UI thread.
        self._audio_pool = ThreadPoolExecutor(max_workers=1,
                                              thread_name_prefix="history-audio")
        self.output_device = ""  # Settings > Audio > Speakers; "" is the system default
        self._player: RecordingPlayer | None = None
        self._playback = 0  # numbers each Play; a result for an older one is dropped
        self._play_pending = False  # a Play is loading the recording or opening the device
        self._closing = threading.Event()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search transcripts and notes (e.g. refund, cancel my "
                                       "account)")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.period = QComboBox()
        self.period.addItems(list(PERIODS))
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.export_button = QPushButton("Export selected…")
        self.export_button.clicked.connect(self._export_clicked)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.period)
        top.addWidget(QLabel("as"))
        top.addWidget(self.format)
        top.addWidget(self.export_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.ExtendedSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Match"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.status = QLabel("")
        self.status.setProperty("muted", True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)

        # The selected past call.
        self.title = QLabel("Select a call")
        self.title.setProperty("heading", True)
        self.info = QLabel("")
        self.info.setProperty("muted", True)
        self.info.setWordWrap(True)
        self.play_button = QPushButton("Play recording")
        self.play_button.clicked.connect(self._toggle_play)
        self.play_button.setEnabled(False)
        self.export_one = QPushButton("Export this call…")
        self.export_one.clicked.connect(self._export_this)
        self.export_one.setEnabled(False)
        self.play_note = QLabel("")
        self.play_note.setProperty("muted", True)
        self.play_note.setWordWrap(True)
        self.transcript = QTextBrowser()
        self.trend = sentiment_plot()
        self._trend_curves: list[Any] = []
        self.events = QListWidget()
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.export_one)
        buttons.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.title)
        rl.addWidget(self.info)
        rl.addLayout(buttons)
        rl.addWidget(self.play_note)
        rl.addWidget(self.transcript, 3)
        rl.addWidget(self.trend, 1)
        rl.addWidget(self.events, 1)
        self.notes = NotesPanel(self.transcript, lambda: past_lines(self.detail))
        rl.addWidget(self.notes, 1)
        # The call's scorecard: a review goes to the audit trail, then the list re-reads.
        self.scorecard = ScorecardPanel(live=False)
        self.scorecard.reviewed.connect(self._scorecard_reviewed)
        rl.addWidget(self.scorecard)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(top)
        ll.addWidget(self.status)
        ll.addWidget(self.table, 1)
        ll.addWidget(self.progress)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(split)

        self.loaded.connect(self._show_calls)
        self.detailLoaded.connect(self._show_detail)
        self.exportProgress.connect(self._show_progress)
        self.playbackStarted.connect(self._playback_started)
        self.playbackEnded.connect(self._playback_ended)

    # --- background work -------------------------------------------------------------

    def _run(self, fn: Callable[[], Any], done: Signal) -> None:
        try:
            future = self._pool.submit(fn)
        except RuntimeError:  # shut down: the window is closing, a late timer asked
            return
        future.add_done_callback(lambda f: done.emit(
            f.result() if f.exception() is None else f"Could not read calls: {f.exception()}"))

    def _open(self) -> Any:
        path = db_path(self.data_dir)
        if not path.exists():
            return None
        return connect(path, readonly=True)

    def refresh(self) -> None:
        query = self.search.text().strip()
        since = _since(PERIODS[self.period.currentText()])

        def read() -> list[dict[str, Any]] | str:
            conn = self._open()
            if conn is None:
                return []
            try:
                return list_calls(conn, limit=1000, since=since, search=query or None)
            finally:
                conn.close()

        self._query = query
        self._run(read, self.loaded)

    def _show_calls(self, calls: list[dict[str, Any]] | str) -> None:
        if isinstance(calls, str):
            self.status.setText(calls)
            return
        self.calls = calls
        if not calls:
            self.status.setText("No calls match." if self._query else "No calls yet.")
        else:
            what = f"matching “{self._query}”" if self._query else "newest first"
            self.status.setText(f"{len(calls)} calls, {what}. Double-click or select one to "
                                "read it; select several to export them together.")
        self.table.setRowCount(len(calls))
        for row, c in enumerate(calls):
            values = (_local(c["started_at"]),
                      format_duration(c["duration_s"]) if c["duration_s"] else "live",
                      c["from"] or "", c["to"] or "", c["provider"],
                      topic_label(c.get("topic") or ""), c["state"],
                      _mood(c["sentiment"]["customer"]), str(c["alert_count"] or ""),
                      score_text(c.get("scorecard")), notes_cell(c), "", c["id"])
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == COLUMNS.index("Alerts") and c["alert_count"]:
                    item.setForeground(pg.mkColor(palette().danger))
                self.table.setItem(row, col, item)
            hits = c.get("hits") or []
            if hits:
                label = QLabel(_highlight(hits[0]["snippet"]))
                label.setTextFormat(Qt.TextFormat.RichText)
                label.setToolTip(f"{len(hits)} matching line(s)")
                self.table.setCellWidget(row, COLUMNS.index("Match"), label)
            else:
                self.table.removeCellWidget(row, COLUMNS.index("Match"))

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.calls[r]["id"] for r in rows if r < len(self.calls)]

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.open_call(ids[0])

    def open_call(self, call_id: str) -> None:
        def read() -> dict[str, Any] | str:
            conn = self._open()
            if conn is None:
                return "no store"
            try:
                return call_detail(conn, call_id)
            finally:
                conn.close()

        self._run(read, self.detailLoaded)

    def _show_detail(self, detail: dict[str, Any] | str) -> None:
        if isinstance(detail, str):
            self.info.setText(detail)
            return
        self.detail = detail
        pal = palette()
        self.title.setText(detail["from"] or "Unknown caller")
        self.info.setText(
            f"to {detail['to'] or '?'} · {detail['provider'].capitalize()} · "
            f"{_local(detail['started_at'])} · "
            f"{format_duration(detail['duration_s'] or 0)} · {detail['state']}"
            + (" · recorded" if detail["recorded"] else " · not recorded"))
        words = [w.lower() for w in self._query.split() if w]
        rows = []
        for seg in detail["segments"]:
            text = html.escape(seg["text"])
            for w in words:  # mark the searched words where they appear
                lower = text.lower()
                at = lower.find(w)
                if at >= 0:
                    text = (text[:at] + f"<b style='background:{pal.grid}'>"
                            + text[at:at + len(w)] + "</b>" + text[at + len(w):])
            who = "Customer" if seg["speaker"] == "customer" else "Agent"
            color = pal.customer if seg["speaker"] == "customer" else pal.agent
            stamp = format_duration(seg["start_s"])
            rows.append(f"<p style='margin:0 0 6px 0'><span style='color:{pal.muted}'>{stamp}"
                        f"</span>&nbsp; <b style='color:{color}'>{who}</b>&nbsp; {text}</p>")
        self.transcript.setHtml("".join(rows) or
                                f"<p style='color:{pal.muted}'>No transcript for this call.</p>")
        for curve in self._trend_curves:
            self.trend.removeItem(curve)
        self._trend_curves = []
        for speaker, color in (("customer", pal.customer), ("agent", pal.agent)):
            pts = [(s["at_s"], s["score"]) for s in detail["sentiment_samples"]
                   if s["speaker"] == speaker]
            if pts:
                self._trend_curves.append(self.trend.plot(
                    [p[0] for p in pts], [p[1] for p in pts], pen=pg.mkPen(color, width=2)))
        self.events.clear()
        for d in detail["dtmf"]:
            self.events.addItem(f"{format_duration(d['at_s'])}  keypad {d['digit']}")
        for a in detail["alerts"]:
            self.events.addItem(f"{format_duration(a['at_s'])}  alert {a['rule']}: {a['text']}")
        for a in detail["audit"]:
            self.events.addItem(f"{_local(a['at'])}  supervisor {a['action']} {a['detail']}")
        self.play_button.setEnabled(bool(detail["recorded"]) or self.remote_audio is not None)
        self.play_button.setToolTip("" if detail["recorded"] else
                                    "This call was not recorded (Settings > Calls > Record)")
        self.export_one.setEnabled(True)
        self.notes.show_call(detail["id"], detail)
        self.scorecard.show_stored(detail["id"], detail["from"] or "Unknown caller",
                                   (detail.get("scorecard") or {}).get("checklist"),
                                   items_of(detail))

    def _scorecard_reviewed(self, call_id: str, action: str, detail: str) -> None:
        self.audit.emit(call_id, action, detail)
        QTimer.singleShot(400, self, self.refresh)  # the Score column, once the store has it

    # --- playback ----------------------------------------------------------------------

    def _toggle_play(self) -> None:
        if self._player is not None or self._play_pending:
            self._stop_playback()
            self.play_note.setText("Stopped.")
            return
        if self.detail is None:
            return
        call_id = self.detail["id"]
        self._playback += 1
        number = self._playback
        self._play_pending = True
        self.play_button.setText("Stop")
        self.play_note.setText("Loading the recording…")
        data_dir, device = self.data_dir, self.output_device

        def start() -> None:
            # Off the UI thread: the read, the device opening and the first writes.
            result: RecordingPlayer | str
            conn = self._open()
            if conn is None:
                result = "No call store in this data folder."
            else:
                try:
                    if self.remote_audio is not None:  # team mode: the WAV is on the bus
                        stereo, rate = _wav_samples(self.remote_audio(call_id))
                    else:
                        stereo, rate = call_audio(conn, Path(data_dir), call_id)
                except NotRecorded as exc:
                    stereo, rate, result = None, 0, str(exc)
                except Exception as exc:  # unreadable files: said, never fatal
                    stereo, rate, result = None, 0, f"Cannot read the recording: {exc}"
                finally:
                    conn.close()
                if stereo is not None:
                    player = RecordingPlayer(
                        device, lambda message: self.playbackEnded.emit(number, message))
                    try:
                        player.start(stereo, rate)
                        result = player
                    except AudioDeviceError as exc:
                        result = (f"Cannot play the recording: {exc}. Choose another "
                                  "output in Settings > Audio and speech, or export it as WAV.")
            if self._closing.is_set() and isinstance(result, RecordingPlayer):
                result.stop()
                return
            self.playbackStarted.emit(number, result)

        self._audio_pool.submit(start)

    def _playback_started(self, number: int, result: RecordingPlayer | str) -> None:
        if number != self._playback:  # stopped, or another Play, while this one opened
            if isinstance(result, RecordingPlayer):
                self._audio_pool.submit(result.stop)
            return
        self._play_pending = False
        if isinstance(result, str):
            self.play_button.setText("Play recording")
            self.play_note.setText(result)
            return
        self._player = result
        where = f" on {result.device_name}" if result.device_name else ""
        self.play_note.setText(
            f"Playing {format_duration(result.duration_s)}{where} "
            "(customer left, agent right)")
        if self.detail is not None:
            self.audit.emit(self.detail["id"], "play_recording", result.device_name)

    def _playback_ended(self, number: int, message: str) -> None:
        if number != self._playback:
            return
        self._player = None
        self.play_button.setText("Play recording")
        self.play_note.setText(message or "Played to the end.")

    @property
    def player(self) -> RecordingPlayer | None:
        """The playback under way, if any."""
        return self._player

    def _stop_playback(self) -> None:
        """Silence now; the device is released on the playback worker."""
        self._playback += 1
        self._play_pending = False
        player, self._player = self._player, None
        if player is not None:
            self._audio_pool.submit(player.stop)
        self.play_button.setText("Play recording")

    # --- export ------------------------------------------------------------------------

    def _export_clicked(self) -> None:
        ids = self.selected_ids() or [c["id"] for c in self.calls]
        if not ids:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export calls to")
        if folder:
            self.export_calls(ids, self.format.currentText(), Path(folder))

    def _export_this(self) -> None:
        if self.detail is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export call to")
        if folder:
            self.export_calls([self.detail["id"]], self.format.currentText(), Path(folder))

    def export_calls(self, ids: list[str], fmt: str, folder: Path) -> None:
        """Write each call as <id>.<fmt> into `folder`, in the background, with progress."""
        self.progress.setRange(0, len(ids))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.export_button.setEnabled(False)
        data_dir = Path(self.data_dir)

        def job() -> None:
            conn = self._open()
            if conn is None:
                self.exportProgress.emit(0, len(ids), "Nothing exported: no call store in "
                                                      f"{data_dir}")
                return
            done, failed = 0, []
            try:
                for call_id in ids:
                    target = folder / f"{file_name(call_id)}.{fmt}"
                    try:
                        if fmt == "wav" and self.remote_audio is not None:
                            target.write_bytes(self.remote_audio(call_id))
                        elif fmt == "wav":
                            export_wav(conn, data_dir, call_id, target)
                        else:
                            target.write_text(render(call_detail(conn, call_id), fmt),
                                              encoding="utf-8")
                        self.audit.emit(call_id, "export", f"{fmt} to {target}")
                    except (NotRecorded, OSError) as exc:
                        failed.append(f"{call_id}: {exc}")
                    done += 1
                    self.exportProgress.emit(done, len(ids), "")
            finally:
                conn.close()
            ok = done - len(failed)
            msg = f"Exported {ok} of {len(ids)} call(s) as {fmt} to {folder}"
            if failed:
                msg += f"; {len(failed)} failed: " + "; ".join(failed[:3])
            self.exportProgress.emit(done, len(ids), msg)

        self._pool.submit(job)

    def _show_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setValue(done)
        if message:
            self.status.setText(message)
            self.progress.setVisible(False)
            self.export_button.setEnabled(True)

    def shutdown(self) -> None:
        self._closing.set()
        self._playback += 1
        player, self._player = self._player, None
        if player is not None:
            player.stop(timeout=1.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._audio_pool.shutdown(wait=False, cancel_futures=True)


def _wav_samples(data: bytes) -> tuple[Any, int]:
    """(frames, 2) samples and rate of a WAV held in memory (a team call's recording)."""
    import tempfile

    from console.audio.wav import read_wav

    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(data)
        f.flush()
        pcm, rate = read_wav(f.name)
    if pcm.shape[1] == 1:
        pcm = np.repeat(pcm, 2, axis=1)
    return pcm[:, :2].copy(), rate
