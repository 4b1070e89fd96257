"""Today per agent: calls (and which are live), handle time, the agent's share of the talk,
the customer's mood, alerts and the scorecard average. The Agents view reads this.

Who a call's agent is comes from console.core.labels: the first stream whose custom
parameters name one, else the call's endpoints by the configured agent endpoints or its
agent leg; calls with none group under "" (the view shows UNASSIGNED). Each figure mirrors
History's per call, then sums or averages over the agent's calls:

- handle time: end - start, and now - start for a call still live;
- agent talk share: the `metrics` table's talk seconds summed over the calls that have
  some, Σ agent_talk_s / Σ (customer_talk_s + agent_talk_s). Per call this is
  1 - talk_ratio (the stored ratio is the CUSTOMER's share), weighted by how much was said;
- customer mood: History's "Customer mood" (the mean sentiment of the customer's final
  segments), averaged over the calls that have one, each call counting once;
- alerts: all raised, and the critical ones: by the severity each was raised with, or for
  rows stored before severities were kept, by rule (`critical_rules`; by default the
  shipped rules' critical ones);
- scorecard average: each scored call's score as History shows it (weighted % of items met
  after the supervisor's reviews, 0 when a required item is missed), averaged.

One statement: the day's calls and their agents are materialised once, then each table
(metrics, segments, alerts, scorecard items) is read in one grouped pass over them.
bench/agents.py measures it with 1,000 and 10,000 calls in a day.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from console.analysis.alerts import BUILTIN_SEVERITY, DEFAULT_RULES
from console.core.labels import UNASSIGNED, agent_endpoint, stream_labels
from console.core.roles import RoleRules

__all__ = ["CRITICAL_RULES", "AgentDay", "agents_today", "local_midnight"]

CRITICAL_RULES = frozenset(
    [r.name for r in DEFAULT_RULES if r.severity == "critical"]
    + [name for name, severity in BUILTIN_SEVERITY.items() if severity == "critical"])


@dataclass(frozen=True, slots=True)
class AgentDay:
    agent: str  # "" for the calls no agent is named for
    team: str  # of the agent's newest call that names one; "" when none does
    calls: int
    live_call_ids: tuple[str, ...]  # the store's live calls, newest first
    handle_s: float  # summed; live calls up to now
    agent_talk_s: float  # over the calls with conversation metrics
    talk_s: float  # both parties, over the same calls
    customer_mood: float | None  # -1..1, mean over the calls that have one
    mood_calls: int
    alerts: int
    critical_alerts: int
    score_avg: float | None  # %, mean over the scored calls
    scored_calls: int

    @property
    def name(self) -> str:
        return self.agent or UNASSIGNED

    @property
    def live(self) -> int:
        return len(self.live_call_ids)

    @property
    def agent_talk_share(self) -> float | None:
        """The agent's share of all talk, 0..1 (None before anyone spoke)."""
        return self.agent_talk_s / self.talk_s if self.talk_s > 0 else None


def local_midnight(now: float | None = None) -> float:
    """The start of the local day holding `now` (unix seconds; default the present)."""
    t = time.localtime(time.time() if now is None else now)
    # tm_isdst=-1: the C library works out whether midnight was in summer time.
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


@lru_cache(maxsize=4096)
def _labels(params_json: str) -> dict[str, str]:
    try:
        params = json.loads(params_json)
    except (TypeError, ValueError):
        return {}
    return stream_labels(params) if isinstance(params, dict) else {}


def _label(params_json: str | None, field: str) -> str:
    return _labels(params_json or "{}").get(field, "")


_SQL = """
WITH day AS MATERIALIZED (
    SELECT c.id, c.started_at, c.state,
           MAX(0.0, COALESCE(c.ended_at, :now) - c.started_at) AS handle_s,
           COALESCE(
               (SELECT coach_label(s.custom_parameters, 'agent') AS v FROM streams s
                WHERE s.call_id = c.id AND v <> '' ORDER BY s.started_at, s.uid LIMIT 1),
               coach_endpoint(c.from_number, c.to_number,
                   (SELECT s.leg FROM streams s WHERE s.call_id = c.id
                    ORDER BY s.started_at, s.uid LIMIT 1))) AS agent,
           COALESCE(
               (SELECT coach_label(s.custom_parameters, 'team') AS v FROM streams s
                WHERE s.call_id = c.id AND v <> '' ORDER BY s.started_at, s.uid LIMIT 1),
               '') AS team
    FROM calls c
    WHERE c.started_at >= :since AND (:until IS NULL OR c.started_at < :until)
),
base AS (
    SELECT agent, COUNT(*) AS calls, SUM(handle_s) AS handle_s,
           json_group_array(json_array(started_at, id)) FILTER (WHERE state = 'active')
               AS live
    FROM day GROUP BY agent
),
teams AS (  -- SQLite takes the bare `team` from the row holding MAX(started_at)
    SELECT agent, team, MAX(started_at) FROM day WHERE team <> '' GROUP BY agent
),
talk AS (
    SELECT d.agent, SUM(m.agent_talk_s) AS agent_talk_s,
           SUM(m.customer_talk_s + m.agent_talk_s) AS talk_s
    FROM day d JOIN metrics m ON m.call_id = d.id GROUP BY d.agent
),
moods AS (
    SELECT d.agent, AVG(g.sentiment) AS mood
    FROM day d JOIN segments g ON g.call_id = d.id
    WHERE g.speaker = 'customer' AND g.sentiment IS NOT NULL
    GROUP BY d.id
),
mood AS (
    SELECT agent, AVG(mood) AS mood, COUNT(*) AS calls FROM moods GROUP BY agent
),
alerted AS (
    SELECT d.agent, COUNT(*) AS alerts,
           SUM(COALESCE(a.severity = 'critical',
                        a.rule IN (SELECT value FROM json_each(:critical)))) AS critical
    FROM day d JOIN alerts a ON a.call_id = d.id GROUP BY d.agent
),
scores AS (  -- console.analysis.scorecard.score, per call, after reviews
    SELECT d.agent,
           CASE WHEN SUM(i.required AND NOT COALESCE(i.reviewed_passed, i.auto_passed))
                THEN 0.0
                ELSE 100.0 * SUM(CASE WHEN COALESCE(i.reviewed_passed, i.auto_passed)
                                      THEN i.weight ELSE 0 END) / SUM(i.weight)
           END AS score
    FROM day d JOIN scorecard_items i ON i.call_id = d.id
    GROUP BY d.id HAVING SUM(i.weight) > 0
),
scored AS (
    SELECT agent, AVG(score) AS score, COUNT(*) AS calls FROM scores GROUP BY agent
)
SELECT base.agent, COALESCE(teams.team, '') AS team, base.calls, base.handle_s, base.live,
       COALESCE(talk.agent_talk_s, 0) AS agent_talk_s, COALESCE(talk.talk_s, 0) AS talk_s,
       mood.mood, COALESCE(mood.calls, 0) AS mood_calls,
       COALESCE(alerted.alerts, 0) AS alerts, COALESCE(alerted.critical, 0) AS critical,
       scored.score, COALESCE(scored.calls, 0) AS scored_calls
FROM base
LEFT JOIN teams USING (agent) LEFT JOIN talk USING (agent) LEFT JOIN mood USING (agent)
LEFT JOIN alerted USING (agent) LEFT JOIN scored USING (agent)
"""


def agents_today(conn: sqlite3.Connection, since: float, until: float | None = None, *,
                 now: float | None = None, critical_rules: Iterable[str] = CRITICAL_RULES,
                 rules: RoleRules | None = None) -> list[AgentDay]:
    """One row per agent with calls started in [since, until), by name (unassigned last).

    `conn` may be read-only: the query registers two SQL functions on it and writes
    nothing. `rules`: the configured agent endpoints, for calls no parameter names an agent
    for; `now`: where a live call's handle time runs to."""
    def endpoint(from_number: str | None, to_number: str | None, leg: str | None) -> str:
        return agent_endpoint(from_number, to_number, agent_leg=leg == "agent", rules=rules)

    conn.create_function("coach_label", 2, _label, deterministic=True)
    conn.create_function("coach_endpoint", 3, endpoint, deterministic=True)
    args: dict[str, Any] = {"since": since, "until": until,
                            "now": time.time() if now is None else now,
                            "critical": json.dumps(sorted(set(critical_rules)))}
    out = []
    for r in conn.execute(_SQL, args):
        live = sorted(json.loads(r[4]), reverse=True)  # [started_at, id], newest first
        out.append(AgentDay(
            agent=r[0], team=r[1], calls=r[2], live_call_ids=tuple(i for _, i in live),
            handle_s=float(r[3] or 0.0), agent_talk_s=float(r[5]), talk_s=float(r[6]),
            customer_mood=r[7], mood_calls=r[8], alerts=r[9], critical_alerts=r[10] or 0,
            score_avg=r[11], scored_calls=r[12]))
    return sorted(out, key=lambda a: (a.agent == "", a.agent.casefold(), a.agent))
