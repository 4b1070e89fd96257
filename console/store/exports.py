"""Transcript exports: TXT for people, JSON for programs (docs/export-schema.md), SRT and
WebVTT for players, CSV for spreadsheets. Audio is export_wav's job."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from console.store import alert_audit, scorecards
from console.store.notes import csv_rows, txt_events

__all__ = ["FORMATS", "file_name", "render"]

FORMATS = ("txt", "json", "srt", "vtt", "csv", "wav")
SPEAKERS = {"customer": "Customer", "agent": "Agent"}


def file_name(call_id: str) -> str:
    """A call id made safe as a file name (provider ids may hold ':' or '/')."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in call_id)


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _who(speaker: str) -> str:
    return SPEAKERS.get(speaker, speaker.capitalize())


def _cues(call: dict[str, Any]) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, text) with an end after its start, for subtitle formats."""
    out = []
    for seg in call["segments"]:
        start = float(seg["start_s"])
        end = max(float(seg["end_s"]), start + 0.001)
        text = " ".join(str(seg["text"]).split())  # a cue's text never holds a blank line
        if text:
            out.append((start, end, _who(seg["speaker"]), text))
    return out


def to_txt(call: dict[str, Any]) -> str:
    lines = [
        f"Call {call['id']}",
        f"From: {call['from'] or 'unknown'}    To: {call['to'] or 'unknown'}    "
        f"Provider: {call['provider']}",
        f"Started: {call['started_at']}    Ended: {call['ended_at'] or '-'}    "
        f"State: {call['state']}",
        *([f"Topic: {call['topic']}"] if call.get("topic") else []),
        "",
    ]
    events: list[tuple[float, str]] = []
    for seg in call["segments"]:
        score = seg.get("sentiment")
        mood = f"  ({score:+.2f})" if isinstance(score, (int, float)) else ""
        said = (f"  [{seg['language']}: {seg['original_text']}]"
                if seg.get("original_text") else "")
        events.append((float(seg["start_s"]),
                       f"[{_clock(seg['start_s'], '.')[:-4]}] {_who(seg['speaker'])}: "
                       f"{seg['text']}{mood}{said}"))
    for d in call["dtmf"]:
        events.append((float(d["at_s"]), f"[{_clock(d['at_s'], '.')[:-4]}] (keypad {d['digit']})"))
    for a in call["alerts"]:
        level = f" ({a['severity']})" if a.get("severity") else ""
        events.append((float(a["at_s"]), f"[{_clock(a['at_s'], '.')[:-4]}] ALERT {a['rule']}"
                                         f"{level}: {a['text']}"))
    # Bookmarks and notes after what happened at the same moment (the sort is stable).
    events += txt_events(call, lambda s: _clock(s, ".")[:-4])
    events += alert_audit.txt_events(call, lambda s: _clock(s, ".")[:-4])  # ack, snooze
    events.sort(key=lambda e: e[0])
    lines += [text for _, text in events] or ["(no transcript)"]
    lines += scorecards.txt_section(call)  # each item, its verdict and evidence
    return "\n".join(lines) + "\n"


def to_srt(call: dict[str, Any]) -> str:
    blocks = [f"{i}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{who}: {text}\n"
              for i, (start, end, who, text) in enumerate(_cues(call), 1)]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(call: dict[str, Any]) -> str:
    out = ["WEBVTT", f"NOTE Call {call['id']} from {call['from'] or 'unknown'}", ""]
    for start, end, who, text in _cues(call):
        out += [f"{_clock(start, '.')} --> {_clock(end, '.')}", f"<v {who}>{_vtt_escape(text)}",
                ""]
    return "\n".join(out)


CSV_COLUMNS = ("call_id", "segment", "speaker", "start_s", "end_s", "text", "sentiment",
               "sentiment_label", "language", "original_text",
               "kind", "supervisor", "written_at",  # kind: segment, bookmark or note
               "item", "passed", "automatic", "score")  # kind: scorecard, scorecard_item


def to_csv(call: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, seg in enumerate(call["segments"], 1):
        score = seg.get("sentiment")
        writer.writerow([call["id"], i, seg["speaker"], f"{float(seg['start_s']):.3f}",
                         f"{float(seg['end_s']):.3f}", seg["text"],
                         "" if score is None else f"{float(score):.3f}",
                         seg.get("sentiment_label") or "", seg.get("language") or "",
                         seg.get("original_text") or "", "segment", "", "",
                         *[""] * (len(CSV_COLUMNS) - 13)])  # later columns: other kinds
    writer.writerows(csv_rows(call, CSV_COLUMNS))  # bookmarks and notes, after the lines
    writer.writerows(alert_audit.csv_rows(call, CSV_COLUMNS))  # acknowledged, snoozed
    writer.writerows(scorecards.csv_rows(call, CSV_COLUMNS))  # the score, then each item
    return buf.getvalue()


def to_json(call: dict[str, Any]) -> str:
    return json.dumps(call, indent=2, ensure_ascii=False) + "\n"


def render(call: dict[str, Any], fmt: str) -> str:
    renderers = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "csv": to_csv}
    if fmt not in renderers:
        raise ValueError(f"unknown transcript format {fmt!r} (have: {', '.join(renderers)})")
    return renderers[fmt](call)
