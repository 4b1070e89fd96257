"""Full-text search over final transcript segments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from store_helpers import make_call

from console.store.db import connect, db_path
from console.store.queries import HIT_END, HIT_START, fts_query, list_calls, search_segments


def test_search_finds_words_and_prefixes(tmp_path: Path) -> None:
    make_call(tmp_path)
    make_call(tmp_path, "call-2", started=1_700_100_000.0, ended=1_700_100_100.0)
    conn = connect(db_path(tmp_path), readonly=True)
    hits = search_segments(conn, "refund")
    assert {h["call_id"] for h in hits} == {"call-1", "call-2"}
    assert f"{HIT_START}refund{HIT_END}" in hits[0]["snippet"]
    assert search_segments(conn, "canc")[0]["text"].startswith("Otherwise")  # prefix, as typed
    assert search_segments(conn, "charged twice")  # every word must appear
    assert not search_segments(conn, "charged banana")
    # Partial (tentative) lines are never stored, so never found.
    assert conn.execute("SELECT COUNT(*) FROM segments WHERE text = 'I was char'"
                        ).fetchone()[0] == 0
    # Quotes typed into the box are not query syntax: each word is looked for as a word, so
    # `OR` is not an operator here (as one, this would find every "refund" line).
    assert fts_query('refund" OR "x') == fts_query("refund OR x") == '"refund" "OR" "x"*'
    assert search_segments(conn, 'refund" OR "x') == search_segments(conn, "refund OR x") == []
    quoted = search_segments(conn, '"refund" "today"')  # a line with "today" in quotes
    assert {h["call_id"] for h in quoted} == {"call-1", "call-2"}
    assert quoted == search_segments(conn, "refund today")
    assert search_segments(conn, "   ") == []
    calls = list_calls(conn, search="cancel account")
    assert {c["id"] for c in calls} == {"call-1", "call-2"}
    assert calls[0]["hits"][0]["speaker"] == "customer"
    assert list_calls(conn, search="nothing-like-this") == []


def test_fts_query_is_safe() -> None:
    assert fts_query('a "b" NEAR(c)') == '"a" "b" "NEAR(c)"*'


def test_calls_search_cli(tmp_path: Path) -> None:
    make_call(tmp_path)
    out = subprocess.run([sys.executable, "-m", "console", "calls", "--data-dir", str(tmp_path),
                          "--search", "refund", "--json"], capture_output=True, text=True,
                         check=True)
    calls = json.loads(out.stdout)
    assert [c["id"] for c in calls] == ["call-1"] and calls[0]["hits"]
    out = subprocess.run([sys.executable, "-m", "console", "calls", "--data-dir", str(tmp_path),
                          "--search", "refund"], capture_output=True, text=True, check=True)
    assert "[refund]" in out.stdout
