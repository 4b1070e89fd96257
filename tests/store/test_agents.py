"""Today per agent (console/store/agents.py) over a real SQLite file written by the store
writer: every figure computed by hand from the events fed, the day's bounds, unassigned
calls, live calls, no calls at all, and where "today" starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from agent_day import call, item, write

from console.core.events import MediaFormat, Provider, StreamOpened, TrackName
from console.core.roles import RoleRules
from console.store.agents import AgentDay, agents_today, local_midnight
from console.store.db import connect, db_path

DAY = local_midnight(1_700_000_000.0)
T = DAY + 10 * 3600  # ten in the morning
NOW = T + 3600


@pytest.fixture
def day(tmp_path: Path) -> Path:
    ana = {"agent_name": "Ana Silva"}
    events = [
        *call("ana1", T, ended=T + 120, params={**ana, "team": "Onboarding"}, talk=(30, 10),
              moods=(-0.5, -0.3), alerts=[("cancellation", "critical"),
                                          ("escalation", "warning")],
              items=[item("greeting", True), item("empathy", False, 3.0)],
              reviews=[("empathy", "pass")]),
        *call("ana2", T + 1000, params={"agent": "Ana Silva"}, talk=(20, 30), moods=(0.6,)),
        *call("ana3", T + 2000, ended=T + 2200, params={"agentId": "Ana Silva",
                                                         "Team": "Retention"},
              alerts=[("legal_threat", "critical")],
              items=[item("identity", False, 2.0, required=True), item("greeting", True)]),
        *call("ana4", T + 3000, params=ana),
        # Split legs: the customer's stream names nobody, the agent's (opened later) does.
        *call("bo1", T + 100, ended=T + 400),
        StreamOpened("bo1", "bo1-agent", Provider.TELNYX, MediaFormat("PCMU", 8000),
                     (TrackName.INBOUND,), {"inbound": "agent"}, "agent",
                     {"agent_name": "Bo Li", "team": "Care"}, None, T + 101),
        *call("bo2", T + 5000, ended=T + 5100, params={"agent_name": "Bo Li"}),
        *call("u1", T + 50, ended=T + 110, alerts=[("overtalk", "info")]),
        # No parameter names the agent: the agent's own leg does, and a configured rule.
        *call("ep1", T + 60, ended=T + 90, leg="agent",
              numbers=("+18005550100", "sip:lee@agents.example.com")),
        *call("rule1", T + 70, ended=T + 100, numbers=("+14155550111", "+18005550199")),
        *call("yesterday", DAY - 10, ended=DAY + 50, params=ana, talk=(5, 5)),
    ]
    write(tmp_path, events)
    return tmp_path


def _read(data: Path, **kw: object) -> dict[str, AgentDay]:
    conn = connect(db_path(data), readonly=True)
    try:
        rows = agents_today(conn, DAY, now=NOW, **kw)  # type: ignore[arg-type]
    finally:
        conn.close()
    return {r.name: r for r in rows}


def test_each_figure_per_agent(day: Path) -> None:
    rows = _read(day)
    assert list(rows) == ["Ana Silva", "Bo Li", "sip:lee@agents.example.com", "Unassigned"]
    ana = rows["Ana Silva"]
    assert ana.team == "Retention"  # the newest call that names a team
    assert ana.calls == 4 and ana.live == 2
    assert ana.live_call_ids == ("ana4", "ana2")  # newest first
    assert ana.handle_s == pytest.approx(120 + (NOW - T - 1000) + 200 + (NOW - T - 3000))
    # The stored talk_ratio is the customer's share; the agent said 10 + 30 of 90 s.
    assert ana.agent_talk_share == pytest.approx(40 / 90)
    assert ana.customer_mood == pytest.approx((-0.4 + 0.6) / 2)  # per call, then averaged
    assert ana.mood_calls == 2
    assert (ana.alerts, ana.critical_alerts) == (3, 2)
    # ana1: 25 % automatically, 100 % once empathy was passed on review; ana3 missed a
    # required item: 0 %.
    assert ana.score_avg == pytest.approx(50.0) and ana.scored_calls == 2

    bo = rows["Bo Li"]
    assert (bo.team, bo.calls, bo.live, bo.handle_s) == ("Care", 2, 0, 400.0)
    assert bo.agent_talk_share is None and bo.customer_mood is None
    assert bo.score_avg is None and bo.scored_calls == 0 and bo.alerts == 0

    assert rows["sip:lee@agents.example.com"].calls == 1
    unassigned = rows["Unassigned"]
    assert unassigned.agent == "" and unassigned.calls == 2  # u1, and rule1 without rules
    assert (unassigned.alerts, unassigned.critical_alerts) == (1, 0)


def test_rules_and_critical_rules(day: Path) -> None:
    rules = RoleRules.from_patterns(["+1800555019*"])
    rows = _read(day, rules=rules, critical_rules={"overtalk"})
    assert rows["+18005550199"].calls == 1 and rows["Unassigned"].calls == 1
    # Criticals by the severity each alert was raised with: the rule list does not matter.
    assert rows["Unassigned"].critical_alerts == 0 and rows["Ana Silva"].critical_alerts == 2
    # Alerts stored before severities were kept are judged by their rule.
    conn = connect(db_path(day))
    with conn:
        conn.execute("UPDATE alerts SET severity = NULL")
    conn.close()
    rows = _read(day, rules=rules, critical_rules={"overtalk"})
    assert rows["Unassigned"].critical_alerts == 1
    assert rows["Ana Silva"].critical_alerts == 0


def test_day_bounds(day: Path) -> None:
    rows = _read(day, until=T + 4000)
    assert rows["Bo Li"].calls == 1  # bo2 started after `until`
    conn = connect(db_path(day), readonly=True)
    try:
        yesterday = {r.name: r for r in agents_today(conn, DAY - 86400, DAY, now=NOW)}
    finally:
        conn.close()
    assert list(yesterday) == ["Ana Silva"] and yesterday["Ana Silva"].calls == 1
    assert yesterday["Ana Silva"].agent_talk_share == pytest.approx(0.5)


def test_no_calls(tmp_path: Path) -> None:
    write(tmp_path, call("old", DAY - 3600, ended=DAY - 3000))
    conn = connect(db_path(tmp_path), readonly=True)
    try:
        assert agents_today(conn, DAY, now=NOW) == []
    finally:
        conn.close()


def test_local_midnight_in_a_fixed_time_zone() -> None:
    """Where "today" starts, in a zone without summer time (POSIX TZ: no tz database)."""
    code = ("import sys, time; from console.store.agents import local_midnight; "
            "print(local_midnight(float(sys.argv[1])))")
    cases = [
        # 2023-11-14 22:13:20 UTC is 03:43:20 on the 15th at UTC+5:30: its day began at
        # 18:30 UTC on the 14th.
        ("IST-5:30", 1_700_000_000, 1_699_986_600),
        ("UTC0", 1_700_000_000, 1_699_920_000),
        # 23:59:59 at UTC-7 on the 14th (06:59:59 UTC on the 15th): still the 14th there.
        ("MST7", 1_700_031_599, 1_699_945_200),
        ("MST7", 1_700_031_600, 1_700_031_600),  # and one second later, the next day
    ]
    for tz, now, midnight in cases:
        out = subprocess.run([sys.executable, "-c", code, str(now)], capture_output=True,
                             text=True, check=True, env={"TZ": tz, "PYTHONPATH": str(
                                 Path(__file__).resolve().parents[2])}).stdout
        assert float(out) == midnight, (tz, now)
