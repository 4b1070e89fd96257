"""Who and where a call is: the agent, team and queue.

Dial plans name them in the stream's custom parameters (agent / agent_name / agentId, team,
queue / queue_name...). Where none names the agent, the configured agent endpoints say it
("from rules", console.core.roles): the call's `to` or `from` that matches one is the agent.
Failing that, a call whose first stream runs on the agent's own leg was placed to the agent,
so that leg's `to` is the agent. Calls with no agent at all group under UNASSIGNED.

Pure functions, no Qt: the window's live model and the store's Agents query share them.
"""

from __future__ import annotations

from collections.abc import Mapping

from console.core.events import Role
from console.core.roles import RoleRules

__all__ = ["LABEL_KEYS", "LABEL_LIMIT", "UNASSIGNED", "agent_endpoint", "stream_labels"]

LABEL_LIMIT = 80  # a custom parameter comes from the platform: kept short on screen
# Spellings dial plans use (compared lower-case, without "_", "-" or spaces), best first.
LABEL_KEYS: dict[str, tuple[str, ...]] = {
    "agent": ("agentname", "agent", "agentid", "agentlogin", "agentuser", "agentemail",
              "operator", "rep", "repname"),
    "team": ("team", "teamname", "teamid", "agentteam", "group", "groupname"),
    "queue": ("queue", "queuename", "queueid", "taskqueue", "callqueue", "skill",
              "skillgroup", "huntgroup"),
}
UNASSIGNED = "Unassigned"  # what the Agents view calls the calls nobody is named for


def stream_labels(params: Mapping[str, object]) -> dict[str, str]:
    """Agent, team and queue from the stream's custom parameters, where the dial plan passes
    them (agent / agent_name / agentId, team, queue / queue_name...); "" where it does not."""
    lower: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(k, str) and isinstance(v, str):
            key = k.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
            lower.setdefault(key, " ".join(v.split())[:LABEL_LIMIT])
    return {field_name: next((lower[k] for k in keys if lower.get(k)), "")
            for field_name, keys in LABEL_KEYS.items()}


def agent_endpoint(from_number: str | None, to_number: str | None, *, agent_leg: bool,
                   rules: RoleRules | None = None) -> str:
    """The agent of a call no custom parameter names, from its endpoints ("" when unknown).

    `from_number`/`to_number` are those of the call's first stream; `agent_leg` says that
    stream runs on the agent's leg. An endpoint matching the configured agent endpoints is
    the agent (`to` first, as RoleRules reads a leg); else, on the agent's own leg, the
    platform dialled the agent, who is its `to`."""
    if rules is not None and rules.agent_endpoints:
        for endpoint in (to_number, from_number):
            # leg_for with no parameters answers from the rules alone: AGENT when one matches.
            if endpoint and rules.leg_for({}, None, endpoint).leg is Role.AGENT:
                return endpoint.strip()[:LABEL_LIMIT]
    if agent_leg and to_number and to_number.strip():
        return to_number.strip()[:LABEL_LIMIT]
    return ""
