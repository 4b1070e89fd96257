"""The supervisor's phone as a Telnyx supervisor leg, from a team console: the node that
holds the call has the Call Control settings and does the dialling; this side asks it, and
follows every console's phone steps from the audit facts the nodes publish.

It offers the same face as console.callcontrol.control.CallControl does to the window."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.callcontrol.control import ROLES, PhoneLeg, Refused
from console.core.events import CallEvent, SupervisorAction

if TYPE_CHECKING:
    from console.team.console import TeamEngine

__all__ = ["TeamPhones"]

log = logging.getLogger("console.team")

PHONE_TIMEOUT_S = 30.0  # a dial waits for Telnyx's answer, retried once, on the node
_STATES = {"phone_dial": "dialling", "phone_answered": "answered", "phone_hangup": "ended",
           "phone_ended": "ended"}


class TeamPhones:
    webhook_url = ""  # webhooks go to the nodes

    def __init__(self, engine: TeamEngine) -> None:
        self.engine = engine
        self.phones: dict[str, PhoneLeg] = {}
        self.on_change: Callable[[str], None] | None = None
        engine.bus.subscribe(self._on_event)

    @property
    def offered(self) -> bool:
        return any(bool(self.engine.nodes.get(name, {}).get("phone"))
                   for name in self.engine.alive_nodes())

    def offered_for(self, call_id: str, provider: str) -> bool:
        call = self.engine.registry.calls.get(call_id)
        return (provider == "telnyx" and call is not None
                and bool(self.engine.nodes.get(call.node, {}).get("phone")))

    def phone(self, call_id: str) -> PhoneLeg | None:
        return self.phones.get(call_id)

    async def dial(self, call_id: str, role: str, supervisor: str = "",
                   to: str = "") -> PhoneLeg:
        if role not in ROLES:
            raise Refused(f"Unknown role {role!r}: monitor, whisper or barge.")
        mine = to or self.engine.settings.supervisor_phone
        answer = await self._ask(call_id, {"action": "phone_dial", "role": role,
                                           **({"to": mine} if mine else {})})
        return self._update(call_id, answer, supervisor)

    async def switch(self, call_id: str, role: str, supervisor: str = "") -> PhoneLeg:
        if role not in ROLES:
            raise Refused(f"Unknown role {role!r}: monitor, whisper or barge.")
        return self._update(call_id, await self._ask(call_id, {"action": "phone_role",
                                                               "role": role}), supervisor)

    async def hangup(self, call_id: str, supervisor: str = "") -> PhoneLeg:
        return self._update(call_id, await self._ask(call_id, {"action": "phone_hangup"}),
                            supervisor)

    async def _ask(self, call_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        call = self.engine.registry.calls.get(call_id)
        if call is None or call.state != "active" or not call.node:
            raise Refused("The call is not live.")
        answer = await self.engine.request(call.node, {**payload, "call_id": call_id},
                                           timeout=PHONE_TIMEOUT_S)
        if not answer.get("ok"):
            raise Refused(str(answer.get("reason", f"Node {call.node} refused.")))
        return answer

    def _update(self, call_id: str, answer: dict[str, Any], supervisor: str) -> PhoneLeg:
        phone = self.phones.get(call_id)
        if phone is None:
            phone = self.phones[call_id] = PhoneLeg(call_id, "", "", "", "")
        phone.role = str(answer.get("role", phone.role))[:16]
        phone.state = str(answer.get("state", phone.state))[:16]
        phone.to = str(answer.get("to", phone.to))[:256]
        phone.detail = str(answer.get("detail", phone.detail))[:300]
        phone.supervisor = supervisor or phone.supervisor
        self._changed(call_id)
        return phone

    def _on_event(self, event: CallEvent) -> None:
        """Phone steps from the audit facts: this console's and the others'."""
        if not isinstance(event, SupervisorAction) or not event.call_id:
            return
        action = event.action
        if action not in _STATES and action != "phone_role":
            return
        phone = self.phones.get(event.call_id)
        if phone is None:
            if action != "phone_dial":
                return
            phone = self.phones[event.call_id] = PhoneLeg(event.call_id, "", "", "", "")
        if action == "phone_dial":
            phone.role = event.detail.split(" ", 1)[0] if event.detail else phone.role
            phone.supervisor = event.supervisor
        elif action == "phone_role":
            phone.role = event.detail.rsplit("-> ", 1)[-1].strip() or phone.role
        if action in _STATES and not (phone.state == "ended" and action == "phone_answered"):
            phone.state = _STATES[action]
        phone.detail = f"{event.supervisor}: {event.detail}" if event.supervisor \
            else event.detail
        self._changed(event.call_id)

    def _changed(self, call_id: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(call_id)
            except Exception:
                log.exception("phone-leg listener failed")
