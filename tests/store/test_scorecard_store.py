"""Scorecards in the store (a real SQLite file through the store writer): the automatic
verdicts, a supervisor's review from the audit trail, a rescore that keeps reviews, and the
JSON export against its schema."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import jsonschema

from console.core.events import (
    CallEnded,
    CallScorecard,
    CallStarted,
    Provider,
    SupervisorAction,
)
from console.store.db import connect, db_path
from console.store.exports import render
from console.store.queries import call_detail, list_calls
from console.store.scorecards import parse_review, review_detail
from console.store.writer import StoreWriter

REPO = Path(__file__).resolve().parents[2]


def _item(name: str, passed: bool, weight: float = 1.0, required: bool = False,
          text: str | None = "hello there") -> dict[str, object]:
    return {"name": name, "label": name.capitalize(), "weight": weight, "required": required,
            "passed": passed, "similarity": 0.61 if text else None, "segment_id": "s1",
            "speaker": "agent" if text else None, "at_s": 2.5 if text else None, "text": text}


def test_scorecard_store_keeps_verdicts_reviews_and_exports(tmp_path: Path) -> None:
    w = StoreWriter(tmp_path)
    t0 = time.time()
    w.on_event(CallStarted("c1", Provider.TELNYX, "+1555", "+1800", t0))
    w.on_event(CallEnded("c1", t0 + 30, "ended"))
    # A live reading is never stored; the final one is.
    w.on_event(CallScorecard("c1", "default", (_item("greeting", False),), False, t0 + 20))
    w.on_event(CallScorecard("c1", "default", (
        _item("greeting", True), _item("empathy", False, 3.0, text="okay then"),
        _item("identity", True, 2.0, required=True),
        {"name": "BAD", "label": "x", "weight": 1.0, "passed": True}), True, t0 + 31))
    w.on_event(SupervisorAction("c1", "scorecard", t0 + 40,
                                review_detail("empathy", "pass", False), "Dana Reyes"))
    w.on_event(SupervisorAction("c1", "scorecard", t0 + 41, "nonsense", "Dana Reyes"))
    assert w.flush()
    conn = connect(db_path(tmp_path), readonly=True)
    try:
        summary = list_calls(conn)[0]["scorecard"]
        assert summary == {"score": 100.0, "auto_score": 50.0, "reviewed": 1, "item_count": 3}
        detail = call_detail(conn, "c1")
    finally:
        conn.close()
    card = detail["scorecard"]
    assert [i["name"] for i in card["items"]] == ["greeting", "empathy", "identity"]
    empathy = card["items"][1]
    assert empathy["passed"] is True and empathy["automatic"] is False
    assert empathy["review"] == "overridden" and empathy["reviewed_by"] == "Dana Reyes"
    assert empathy["reviewed_at"].endswith("Z")
    assert empathy["evidence"] == {"speaker": "agent", "at_s": 2.5, "text": "okay then",
                                   "similarity": 0.61, "met": False}
    assert {a["action"] for a in detail["audit"]} == {"scorecard"}  # both kept in the trail
    jsonschema.validate(json.loads(render(detail, "json")),
                        json.loads((REPO / "docs" / "export-schema.json").read_text()))
    txt = render(detail, "txt")
    assert "Scorecard (default): 100 % (automatic 50 %; 1 of 3 items reviewed)" in txt
    assert "[x] Empathy: met (overridden by Dana Reyes" in txt
    rows = list(csv.DictReader(io.StringIO(render(detail, "csv"))))
    head = next(r for r in rows if r["kind"] == "scorecard")
    assert head["score"] == "100.0" and head["automatic"] == "50.0"
    row = next(r for r in rows if r["kind"] == "scorecard_item" and r["item"] == "empathy")
    assert (row["passed"], row["automatic"], row["supervisor"], row["text"]) == (
        "true", "false", "Dana Reyes", "okay then")

    # Scored again (a late line): automatic verdicts change, the review stays; an item the
    # checklist dropped goes unless reviewed; clearing a review removes it.
    w.on_event(CallScorecard("c1", "default", (_item("greeting", False),
                                               _item("empathy", False, 3.0)), True, t0 + 50))
    w.on_event(SupervisorAction("c1", "scorecard", t0 + 60,
                                review_detail("greeting", "clear", None), "Dana Reyes"))
    assert w.flush()
    conn = connect(db_path(tmp_path), readonly=True)
    try:
        card = call_detail(conn, "c1")["scorecard"]
    finally:
        conn.close()
    w.close()
    by_name = {i["name"]: i for i in card["items"]}
    assert set(by_name) == {"greeting", "empathy"}
    assert by_name["empathy"]["passed"] is True and by_name["empathy"]["review"] == "overridden"
    assert by_name["greeting"]["review"] is None and by_name["greeting"]["passed"] is False
    assert card["score"] == 75.0 and card["auto_score"] == 0.0


def test_scorecard_review_detail_reads_back() -> None:
    assert parse_review(review_detail("identity_verified", "pass", False)) == (
        "identity_verified", True)
    assert parse_review("closing: fail") == ("closing", False)
    assert parse_review("closing: clear") == ("closing", None)
    assert parse_review("Closing: pass") is None and parse_review("export csv") is None
