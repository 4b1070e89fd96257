"""Telnyx Call Control beside the stream server: webhooks start streams, and the supervisor
can put their own phone on a call as a native supervisor leg (monitor, whisper or barge).

Everything here runs on the engine's loop. Webhooks only update what is known about legs;
the REST calls they lead to go through a bounded queue served by a few workers, so a burst
of events never blocks the loop or grows without bound. Each step is in the audit trail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.callcontrol.api import (
    ApiError,
    TelnyxApi,
    streaming_start_body,
    supervisor_dial_body,
)
from console.callcontrol.events import WebhookEvent
from console.core.events import Provider, Role, SupervisorAction
from console.core.roles import RoleRules

if TYPE_CHECKING:
    from console.callcontrol.webhook_server import WebhookServer
    from console.config import Settings
    from console.core.bus import EventBus
    from console.core.registry import CallRegistry

__all__ = ["ROLES", "CallControl", "ControlStats", "PhoneLeg", "Refused"]

log = logging.getLogger("console.callcontrol")

ROLES = ("monitor", "whisper", "barge")
_CLIENT_STATE_PREFIX = "coach-supervisor:"
_MAX_LEGS = 10_000  # legs remembered from webhooks (oldest forgotten first)
_QUEUE = 1000  # REST jobs waiting; beyond it new jobs are dropped and counted
_WORKERS = 4


class Refused(Exception):
    """A supervisor-leg request that cannot be done; the text says why, for the window."""


@dataclass(slots=True)
class KnownLeg:
    """One call leg as its webhooks describe it."""

    call_control_id: str
    session: str = ""
    direction: str = ""
    from_number: str = ""
    to_number: str = ""
    ended: bool = False
    supervisor_of: str = ""  # console call id when this is a supervisor leg we dialled
    stream_requested: bool = False


@dataclass(slots=True)
class PhoneLeg:
    """The supervisor's own phone on a call (one per call)."""

    call_id: str
    call_control_id: str
    supervised: str  # the leg it supervises
    role: str
    to: str
    state: str = "dialling"  # dialling, answered, hanging up, ended
    detail: str = ""
    supervisor: str = ""  # whose phone (one per call: in a team, the first to dial)


@dataclass(slots=True)
class ControlStats:
    webhooks: int = 0
    streams_requested: int = 0
    stream_failures: int = 0
    api_errors: int = 0
    jobs_dropped: int = 0
    job_errors: int = 0
    last_error: str = ""


class CallControl:
    def __init__(self, settings: Settings, registry: CallRegistry, bus: EventBus,
                 api: TelnyxApi | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.registry = registry
        self.bus = bus
        self.api = api or (TelnyxApi(settings.telnyx_api_key, settings.telnyx_api_url)
                           if settings.telnyx_api_key else None)
        self.clock = clock
        self.rules = RoleRules.from_patterns(settings.agent_endpoints)
        self.legs: OrderedDict[str, KnownLeg] = OrderedDict()
        self.phones: dict[str, PhoneLeg] = {}  # console call id -> the supervisor's leg
        self.stats = ControlStats()
        self.server: WebhookServer | None = None
        self._jobs: asyncio.Queue[tuple[str, Callable[[], Any]]] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.on_change: Callable[[str], None] | None = None  # call id whose phone leg changed

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def webhooks_on(self) -> bool:
        return bool(self.settings.telnyx_public_key)

    async def start(self, ssl_context: Any = None) -> None:
        self._jobs = asyncio.Queue(_QUEUE)
        self._workers = [asyncio.create_task(self._work(), name=f"call-control-{i}")
                         for i in range(_WORKERS)]
        s = self.settings
        if self.webhooks_on:
            from console.callcontrol.webhook_server import WebhookServer

            self.server = WebhookServer(s.host, s.webhook_port, s.webhook_path,
                                        s.telnyx_public_key, self.on_event,
                                        ssl_context=ssl_context)
            await self.server.start()
            log.info("Telnyx webhooks: POST %s", self.webhook_url)
        elif s.telnyx_api_key:
            log.warning("Telnyx webhooks are off: set the account's public key "
                        "(telnyx_public_key) to accept signed webhooks")

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._workers = []
        if self.server is not None:
            await self.server.stop()

    @property
    def webhook_url(self) -> str:
        if self.server is None:
            return ""
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        if ":" in shown:
            shown = f"[{shown}]"
        scheme = "https" if self.settings.tls_cert else "http"
        return f"{scheme}://{shown}:{self.server.port}{self.settings.webhook_path}"

    # --- webhooks -----------------------------------------------------------------------

    def on_event(self, event: WebhookEvent) -> None:
        """An admitted (verified, not duplicate, not stale) webhook, on the loop."""
        self.stats.webhooks += 1
        ccid = event.call_control_id
        if not ccid:
            return
        leg = self._leg(ccid)
        leg.session = event.call_session_id or leg.session
        leg.direction = event.direction or leg.direction
        leg.from_number = event.from_number or leg.from_number
        leg.to_number = event.to_number or leg.to_number
        kind = event.event_type
        owner = _supervised_call(event.client_state)
        if owner and not leg.supervisor_of:
            leg.supervisor_of = owner
        if kind == "call.answered":
            phone = self._phone_by_leg(ccid)
            if phone is not None:
                self._phone_state(phone, "answered", "the supervisor's phone answered")
                self._audit(phone.call_id, "phone_answered", f"{phone.to} as {phone.role}")
            elif self._wants_stream(leg):
                leg.stream_requested = True
                self._submit("streaming_start", lambda: self._start_stream(leg))
        elif kind == "call.hangup":
            leg.ended = True
            phone = self._phone_by_leg(ccid)
            if phone is not None and phone.state != "hanging up":  # else hangup() says so
                why = event.hangup_cause or "hung up"
                self._phone_state(phone, "ended", f"the supervisor's phone left ({why})")
                self._audit(phone.call_id, "phone_ended", f"{phone.to}: {why}")
        elif kind == "streaming.failed":
            self.stats.stream_failures += 1
            reason = event.failure_reason or "unknown reason"
            self._error(f"Telnyx could not stream call {event.call_session_id or ccid} to "
                        f"the console: {reason}")
            self._audit(None, "stream_failed", f"session {event.call_session_id or '?'}, "
                        f"leg {ccid}: {reason}")
        elif kind == "streaming.started":
            log.info("Telnyx started streaming leg %s", ccid)

    def _leg(self, ccid: str) -> KnownLeg:
        leg = self.legs.get(ccid)
        if leg is None:
            leg = self.legs[ccid] = KnownLeg(ccid)
            while len(self.legs) > _MAX_LEGS:
                self.legs.popitem(last=False)
        else:
            self.legs.move_to_end(ccid)
        return leg

    def _wants_stream(self, leg: KnownLeg) -> bool:
        how = self.settings.stream_on_answer
        if how == "off" or leg.supervisor_of or leg.stream_requested or leg.ended:
            return False
        if self.api is None:
            return False
        return how == "all" or leg.direction in ("incoming", "")

    def stream_body(self, leg: KnownLeg) -> dict[str, Any]:
        s = self.settings
        # The party on this leg, so the stream's tracks get the right speakers; audio sent
        # back goes to the leg opposite (the agent bridged to a caller) unless set otherwise.
        party = "agent" if self._is_agent_leg(leg) else "customer"
        codec = s.telnyx_bidirectional_codec
        # Narrowband codecs only go at 8 kHz; a wider rate in Settings is for L16 and Opus.
        rate = 8000 if codec in ("PCMU", "PCMA", "G722") else s.telnyx_bidirectional_rate
        return streaming_start_body(
            stream_url=s.public_url, token=s.token, codec=codec,
            rate=rate, target_legs=s.telnyx_target_legs, mode=s.telnyx_bidirectional_mode,
            # Telnyx's start frame does not repeat the mode: the stream carries it itself.
            custom_parameters={"leg": party, "bidirectional_mode": s.telnyx_bidirectional_mode},
            command_id=f"coach-stream-{leg.call_control_id}"[:256])

    async def _start_stream(self, leg: KnownLeg) -> None:
        assert self.api is not None
        if not self.settings.public_url:
            self._error("Cannot start Telnyx streams: the console's public wss:// address "
                        "(public_url) is not set")
            self._audit(None, "stream_request_failed",
                        f"session {leg.session or '?'}: no public URL set")
            return
        try:
            await self.api.streaming_start(leg.call_control_id, self.stream_body(leg))
        except (ApiError, ValueError) as exc:
            leg.stream_requested = False  # a later answered event may try again
            self.stats.api_errors += 1
            self._error(str(exc))
            self._audit(None, "stream_request_failed",
                        f"session {leg.session or '?'}, leg {leg.call_control_id}: {exc}")
            return
        self.stats.streams_requested += 1
        self._audit(None, "stream_requested",
                    f"session {leg.session or '?'}, leg {leg.call_control_id} "
                    f"({leg.direction or 'direction unknown'}) to {self.settings.public_url}")

    # --- the supervisor's phone ---------------------------------------------------------

    def phone(self, call_id: str) -> PhoneLeg | None:
        return self.phones.get(call_id)

    @property
    def offered(self) -> bool:
        """Whether the window offers phone legs at all (an API key is set)."""
        return self.api is not None

    def offered_for(self, call_id: str, provider: str) -> bool:
        return self.offered and provider == "telnyx"

    def ready(self, to: str = "") -> str:
        """Empty when a supervisor leg can be dialled (to `to`, or the supervisor's phone
        in Settings); otherwise what is missing."""
        s = self.settings
        missing = [name for name, value in (
            ("a Telnyx API key", s.telnyx_api_key),
            ("the Call Control application (connection) id", s.telnyx_connection_id),
            ("the number calls come from (telnyx_from_number)", s.telnyx_from_number),
            ("your phone (supervisor_phone)", to or s.supervisor_phone)) if not value]
        return ("Set " + ", ".join(missing) + " in Settings > Telnyx.") if missing else ""

    def supervised_leg(self, call_id: str, role: str) -> tuple[str, str]:
        """The leg a supervisor leg attaches to, and how it was chosen. Whisper must reach
        the agent alone, so it needs the agent's leg; monitor and barge can use any leg."""
        call = self.registry.calls.get(call_id)
        if call is None or call.state != "active":
            raise Refused("The call is not live.")
        if call.provider is not Provider.TELNYX:
            raise Refused("A phone leg needs a Telnyx call (Call Control).")
        streamed = [(s.call_control_id, s.leg.leg) for s in call.open_streams
                    if s.call_control_id]
        if not streamed:
            raise Refused("The call's stream does not name its Telnyx leg (call_control_id).")
        for ccid, party in streamed:
            if party is Role.AGENT:
                return ccid, "the agent's leg (the stream runs on it)"
        session = {ccid for ccid, _ in streamed}
        others = [leg for leg in self.legs.values()
                  if leg.session == call_id and leg.call_control_id not in session
                  and not leg.supervisor_of and not leg.ended]
        agents = [leg for leg in others if self._is_agent_leg(leg)] or (
            others if len(others) == 1 else [])
        if len(agents) == 1:
            return agents[0].call_control_id, "the agent's leg (from Call Control events)"
        if role == "whisper":
            raise Refused("Cannot tell which leg is the agent's, and a whisper must not reach "
                          "the customer: add the agents' numbers in Settings (agent "
                          "endpoints), or use monitor or barge.")
        return streamed[0][0], "the streamed leg"

    def _is_agent_leg(self, leg: KnownLeg) -> bool:
        for number in (leg.to_number, leg.from_number):
            if number and self.rules._is_agent(number):
                return True
        # A caller's leg is incoming; the leg the application dialled to reach an agent is
        # outgoing, when the session also has an incoming leg.
        if leg.direction == "outgoing":
            return any(o.session == leg.session and o.direction == "incoming"
                       for o in self.legs.values() if o is not leg)
        return False

    async def dial(self, call_id: str, role: str, supervisor: str = "",
                   to: str = "") -> PhoneLeg:
        """Ring the supervisor's phone into the call with an explicit role (Telnyx's own
        default is barge, which would speak to the customer)."""
        if role not in ROLES:
            raise Refused(f"Unknown role {role!r}: monitor, whisper or barge.")
        current = self.phones.get(call_id)
        if current is not None and current.state != "ended":
            if current.supervisor and supervisor and current.supervisor != supervisor:
                raise Refused(f"{current.supervisor}'s phone is already on this call.")
            raise Refused("Your phone is already on this call: switch its role or hang up.")
        if missing := self.ready(to):
            raise Refused(missing)
        supervised, how = self.supervised_leg(call_id, role)
        assert self.api is not None
        s = self.settings
        target = to or s.supervisor_phone
        body = supervisor_dial_body(
            connection_id=s.telnyx_connection_id, to=target, from_=s.telnyx_from_number,
            supervise_call_control_id=supervised, role=role,
            client_state=base64.b64encode(
                (_CLIENT_STATE_PREFIX + call_id).encode()).decode("ascii"),
            command_id=str(uuid.uuid4()))
        try:
            leg = await self.api.dial(body)
        except ApiError as exc:
            self.stats.api_errors += 1
            self._audit(call_id, "phone_dial_failed", f"{role} to {target}: {exc}", supervisor)
            raise Refused(f"Could not ring your phone: {exc}") from None
        known = self._leg(leg.call_control_id)
        known.supervisor_of, known.session = call_id, leg.call_session_id
        phone = PhoneLeg(call_id, leg.call_control_id, supervised, role, target,
                         detail=f"ringing {target} as {role} on {how}", supervisor=supervisor)
        self.phones[call_id] = phone
        self._audit(call_id, "phone_dial", f"{role} on {how}; ringing {target}", supervisor)
        self._changed(call_id)
        return phone

    async def switch(self, call_id: str, role: str, supervisor: str = "") -> PhoneLeg:
        phone = self._live_phone(call_id)
        if role not in ROLES:
            raise Refused(f"Unknown role {role!r}: monitor, whisper or barge.")
        if role == "whisper":
            self.supervised_leg(call_id, role)  # refuses when the agent's leg is unknown
        assert self.api is not None
        try:
            await self.api.switch_supervisor_role(phone.call_control_id, role)
        except ApiError as exc:
            self.stats.api_errors += 1
            self._audit(call_id, "phone_role_failed", f"{phone.role} -> {role}: {exc}",
                        supervisor)
            raise Refused(f"Could not switch to {role}: {exc}") from None
        self._audit(call_id, "phone_role", f"{phone.role} -> {role}", supervisor)
        phone.role = role
        phone.detail = f"{role} from {phone.to}"
        self._changed(call_id)
        return phone

    async def hangup(self, call_id: str, supervisor: str = "") -> PhoneLeg:
        phone = self._live_phone(call_id)
        assert self.api is not None
        before, phone.state = phone.state, "hanging up"  # its hangup webhook may come first
        try:
            await self.api.hangup(phone.call_control_id, command_id=str(uuid.uuid4()))
        except ApiError as exc:
            if exc.code != "90018":  # already ended: the wanted outcome
                phone.state = before
                self.stats.api_errors += 1
                self._audit(call_id, "phone_hangup_failed", str(exc), supervisor)
                raise Refused(f"Could not hang up your phone: {exc}") from None
        self._audit(call_id, "phone_hangup", phone.to, supervisor)
        self._phone_state(phone, "ended", "you hung up")
        return phone

    def _live_phone(self, call_id: str) -> PhoneLeg:
        phone = self.phones.get(call_id)
        if phone is None or phone.state == "ended":
            raise Refused("Your phone is not on this call.")
        if self.api is None:
            raise Refused("Set a Telnyx API key in Settings > Telnyx.")
        return phone

    def _phone_by_leg(self, ccid: str) -> PhoneLeg | None:
        return next((p for p in self.phones.values()
                     if p.call_control_id == ccid and p.state != "ended"), None)

    def _phone_state(self, phone: PhoneLeg, state: str, detail: str) -> None:
        phone.state, phone.detail = state, detail
        self._changed(phone.call_id)

    def _changed(self, call_id: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(call_id)
            except Exception:  # the window's problem must not stop call control
                log.exception("phone-leg listener failed")

    # --- plumbing -----------------------------------------------------------------------

    def _submit(self, what: str, job: Callable[[], Any]) -> None:
        assert self._jobs is not None
        try:
            self._jobs.put_nowait((what, job))
        except asyncio.QueueFull:
            self.stats.jobs_dropped += 1
            self._error(f"Call Control is behind: {what} dropped ({_QUEUE} requests waiting)")

    async def _work(self) -> None:
        assert self._jobs is not None
        while True:
            what, job = await self._jobs.get()
            try:
                await job()
            except Exception as exc:  # one failed request never stops the worker
                self.stats.job_errors += 1
                log.exception("Call Control %s failed", what)
                self._error(f"{what} failed: {exc}")

    def _audit(self, call_id: str | None, action: str, detail: str,
               supervisor: str = "") -> None:
        known = call_id if call_id in self.registry.calls else None
        if call_id and known is None:
            detail = f"call {call_id}: {detail}"
        self.bus.publish(SupervisorAction(known, action, self.clock(), detail,
                                          supervisor or "call control"))

    def _error(self, text: str) -> None:
        log.warning("%s", text)
        self.stats.last_error = text


def _supervised_call(client_state: str) -> str:
    """The console call a supervisor leg was dialled for, from the client_state we set."""
    if not client_state:
        return ""
    try:
        text = base64.b64decode(client_state, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""
    return text[len(_CLIENT_STATE_PREFIX):][:256] if text.startswith(
        _CLIENT_STATE_PREFIX) else ""
