"""Every export format, parsed back and checked."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from store_helpers import LINES, make_call
from support import REPO

from console.store.db import connect, db_path
from console.store.exports import CSV_COLUMNS, render
from console.store.queries import call_detail


@pytest.fixture
def call(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    make_call(tmp_path)
    return call_detail(connect(db_path(tmp_path), readonly=True), "call-1")


def test_json_follows_the_schema(call) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(render(call, "json"))
    schema = json.loads((REPO / "docs" / "export-schema.json").read_text())
    jsonschema.validate(data, schema)
    assert [s["text"] for s in data["segments"]] == [line[3] for line in LINES]  # finals only
    assert data["segments"][1] == {"speaker": "customer", "start_s": 3.9, "end_s": 7.4,
                                   "text": LINES[1][3], "sentiment": -0.6,
                                   "sentiment_label": "negative",
                                   "sentiment_confidence": None, "language": None,
                                   "original_text": None}
    assert data["dtmf"] == [{"digit": "1", "at_s": 12.5}]
    assert data["alerts"][0]["rule"] == "cancellation"
    assert data["alerts"][0]["severity"] == "critical"  # as raised
    assert data["audit"][0]["action"] == "listen"
    assert len(data["sentiment_samples"]) == 4
    assert data["sentiment"]["customer"] == pytest.approx(-0.7)
    assert data["alert_count"] == 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "segments": [{"speaker": "robot"}]}, schema)


def _srt_cues(text: str) -> list[tuple[int, str, str, str]]:
    blocks = [b for b in text.strip().split("\n\n") if b]
    cues = []
    for block in blocks:
        idx, timing, *body = block.split("\n")
        m = re.fullmatch(r"(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})", timing)
        assert m, timing
        cues.append((int(idx), m.group(1), m.group(2), "\n".join(body)))
    return cues


def _seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_srt(call) -> None:  # type: ignore[no-untyped-def]
    cues = _srt_cues(render(call, "srt"))
    assert [c[0] for c in cues] == [1, 2, 3, 4]
    for (_, start, end, body), (who, s, e, text, _) in zip(cues, LINES, strict=True):
        assert _seconds(start) == pytest.approx(s) and _seconds(end) == pytest.approx(e)
        assert body == f"{who.value.capitalize()}: {' '.join(text.split())}"
    assert cues[3][1] == "01:02:05,250"  # hours roll over correctly


def test_vtt(call) -> None:  # type: ignore[no-untyped-def]
    text = render(call, "vtt")
    assert text.startswith("WEBVTT\n")
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n<v (\w+)>(.*)\n",
                      text)
    assert len(cues) == 4
    assert cues[0][2] == "Agent" and cues[1][2] == "Customer"
    assert cues[2][3] == "I'm sorry &lt;about&gt; that &amp; I'll fix it right away."
    assert _seconds(cues[3][0]) == pytest.approx(3725.25)
    assert "\n\n\n" not in text  # no empty cue payloads


def test_csv(call) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(render(call, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["text"] for r in rows] == [line[3] for line in LINES]  # commas, quotes, newline
    assert rows[1]["speaker"] == "customer" and float(rows[1]["sentiment"]) == -0.6
    assert float(rows[3]["start_s"]) == 3725.25


def test_txt(call) -> None:  # type: ignore[no-untyped-def]
    text = render(call, "txt")
    assert "From: +14155550100" in text
    assert "[00:00:03] Customer: I was charged twice" in text
    assert "(-0.60)" in text
    assert "[00:00:12] (keypad 1)" in text
    assert "[01:02:05] ALERT cancellation (critical): cancel my account" in text
    stamps = [ln[1:9] for ln in text.splitlines() if ln.startswith("[")]
    assert stamps == sorted(stamps) and len(stamps) == 6  # in time order


def test_cli_writes_every_format(tmp_path: Path) -> None:
    import subprocess
    import sys

    make_call(tmp_path / "d")
    make_call(tmp_path / "d", "call-2", started=1_700_100_000.0, ended=1_700_100_100.0)
    for fmt in ("txt", "json", "srt", "vtt", "csv"):
        out = tmp_path / f"one.{fmt}"
        subprocess.run([sys.executable, "-m", "console", "export", "call-1", "--data-dir",
                        str(tmp_path / "d"), "--format", fmt, "-o", str(out)], check=True,
                       capture_output=True)
        assert out.read_text(encoding="utf-8")
        folder = tmp_path / f"all-{fmt}"
        subprocess.run([sys.executable, "-m", "console", "export", "--all", "--data-dir",
                        str(tmp_path / "d"), "--format", fmt, "-o", str(folder)], check=True,
                       capture_output=True)
        assert sorted(p.name for p in folder.iterdir()) == [f"call-1.{fmt}", f"call-2.{fmt}"]
