"""Who is who on a stream: which track carries the customer and which the agent.

Order of evidence (DESIGN.md, Roles and legs): the stream's custom parameters, then the
configured agent endpoints, then the default that a stream runs on the customer's leg.
On a leg, `inbound` is the voice of the party on that leg and `outbound` is what they hear.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from console.core.events import Role, TrackName

__all__ = ["LegInfo", "RoleRules", "parse_role"]

_SYNONYMS = {
    "customer": Role.CUSTOMER,
    "caller": Role.CUSTOMER,
    "client": Role.CUSTOMER,
    "consumer": Role.CUSTOMER,
    "contact": Role.CUSTOMER,
    "external": Role.CUSTOMER,
    "agent": Role.AGENT,
    "callee": Role.AGENT,
    "rep": Role.AGENT,
    "representative": Role.AGENT,
    "operator": Role.AGENT,
    "staff": Role.AGENT,
}


def parse_role(text: str | None) -> Role | None:
    if not text:
        return None
    return _SYNONYMS.get(text.strip().lower())


@dataclass(frozen=True, slots=True)
class LegInfo:
    leg: Role  # the party on the stream's leg
    source: str  # "parameter", "rule" or "default"

    def role_of(self, track: TrackName) -> Role:
        if track is TrackName.INBOUND:
            return self.leg
        return Role.AGENT if self.leg is Role.CUSTOMER else Role.CUSTOMER

    def roles(self) -> dict[str, str]:
        return {t.value: self.role_of(t).value for t in TrackName}


@dataclass(frozen=True)
class RoleRules:
    """`agent_endpoints`: glob patterns for agent numbers and SIP URIs (e.g. "sip:*@agents.*").
    A leg whose `to` or `from` matches is the agent's leg."""

    agent_endpoints: tuple[str, ...] = ()

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> RoleRules:
        return cls(tuple(p.strip().lower() for p in patterns if p.strip()))

    def leg_for(
        self,
        custom_parameters: Mapping[str, str],
        from_number: str | None,
        to_number: str | None,
    ) -> LegInfo:
        params = {k.strip().lower(): v for k, v in custom_parameters.items()}
        for key in ("leg", "role", "party", "side"):
            role = parse_role(params.get(key))
            if role is not None:
                return LegInfo(role, "parameter")
        for endpoint in (to_number, from_number):
            if endpoint and self._is_agent(endpoint):
                return LegInfo(Role.AGENT, "rule")
        return LegInfo(Role.CUSTOMER, "default")

    def _is_agent(self, endpoint: str) -> bool:
        value = endpoint.strip().lower()
        return any(fnmatch.fnmatchcase(value, p) for p in self.agent_endpoints)
