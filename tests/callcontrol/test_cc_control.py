"""Telnyx Call Control end to end, against the stand-in for Telnyx's REST API and webhooks:
a signed call.answered webhook makes the console ask Telnyx to stream the call; the stream
then arrives on the console's real WebSocket server; the supervisor's phone is dialled as a
supervisor leg with an explicit role, switched and hung up; every step is audited."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from helpers import wait_for
from support import audit_rows
from telnyx_standin import TelnyxStandIn
from websockets.asyncio.client import connect

from console.callcontrol.control import CallControl, Refused
from console.config import Settings
from console.engine import Engine

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _console(tmp_path: Path, standin: TelnyxStandIn, **extra: Any
                   ) -> AsyncIterator[tuple[Engine, CallControl]]:
    port = _free_port()
    values: dict[str, Any] = {
        "telnyx_connection_id": "7267xxxxxxxxxxxxxx", "telnyx_from_number": "+18005550100",
        "supervisor_phone": "+18005550123", **extra}
    settings = Settings(
        host="127.0.0.1", port=port, data_dir=str(tmp_path / "data"), token="stream-secret",
        transcribe=False, public_url=f"ws://127.0.0.1:{port}/telnyx",
        telnyx_api_key=standin.api_key, telnyx_public_key=standin.public_key_b64,
        telnyx_api_url=standin.base_url, webhook_port=0, **values).validate()
    engine = Engine(settings)
    await engine.start()
    try:
        assert engine.call_control is not None
        standin.webhook_url = engine.call_control.webhook_url
        yield engine, engine.call_control
    finally:
        await engine.stop()


def _leg_payload(ccid: str, session: str, direction: str, frm: str = "+15550001111",
                 to: str = "+18005550199") -> dict[str, Any]:
    return {"call_control_id": ccid, "call_leg_id": ccid.removeprefix("v3:"),
            "call_session_id": session, "connection_id": "7267xxxxxxxxxxxxxx",
            "from": frm, "to": to, "direction": direction, "state": "answered"}


async def _webhook(standin: TelnyxStandIn, cc: CallControl, event: str,
                   payload: dict[str, Any], **kw: Any) -> int:
    return await asyncio.to_thread(standin.send_webhook, cc.webhook_url, event, payload, **kw)


async def _stream_as_telnyx(body: dict[str, Any], ccid: str, session: str) -> Any:
    """What Telnyx does after streaming_start: connect to stream_url with the token."""
    ws = await connect(body["stream_url"], additional_headers={
        "x-telnyx-streaming-auth-token": body["stream_auth_token"]})
    params = {p["name"]: p["value"] for p in body.get("custom_parameters", [])}
    await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
    await ws.send(json.dumps({
        "event": "start", "sequence_number": "1", "stream_id": "st-" + session,
        "start": {"call_control_id": ccid, "call_session_id": session,
                  "from": "+15550001111", "to": "+18005550199",
                  "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
                  "custom_parameters": params}}))
    return ws


def _audit(engine: Engine, call_id: str | None) -> list[tuple[str, str]]:
    assert engine.store.flush()
    return audit_rows(engine.settings.data_path(), call_id)


async def _until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    await wait_for(lambda: bool(check()), timeout)


async def test_answered_webhook_starts_a_stream_that_reaches_the_console(
        tmp_path: Path) -> None:
    with TelnyxStandIn() as standin:
        async with _console(tmp_path, standin) as (engine, cc):
            customer = standin.add_call(from_="+15550001111", to="+18005550199")
            session, ccid = customer.call_session_id, customer.call_control_id
            answered = _leg_payload(ccid, session, "incoming")
            assert await _webhook(standin, cc, "call.answered", answered,
                                  event_id="ev-answered-1") == 200
            await _until(lambda: standin.requests_for("streaming_start"))
            # Telnyx delivers again (a lost acknowledgement), and a forger tries too.
            assert await _webhook(standin, cc, "call.answered", answered,
                                  event_id="ev-answered-1") == 200
            assert await _webhook(standin, cc, "call.answered", answered, event_id="ev-x",
                                  tamper=True) == 401
            await asyncio.sleep(0.3)
            starts = standin.requests_for("streaming_start")
            assert len(starts) == 1
            req = starts[0]
            assert req.path.endswith("/actions/streaming_start")
            body = req.body
            assert body["stream_url"] == engine.settings.public_url
            assert body["stream_auth_token"] == "stream-secret"
            assert (body["stream_track"], body["stream_bidirectional_mode"]) == (
                "both_tracks", "rtp")
            assert body["stream_bidirectional_codec"] == "PCMU"
            assert body["stream_bidirectional_target_legs"] == "opposite"
            assert {"name": "leg", "value": "customer"} in body["custom_parameters"]
            assert standin.call(ccid).streaming  # type: ignore[union-attr]

            ws = await _stream_as_telnyx(body, ccid, session)
            try:
                await _until(lambda: session in engine.registry.calls)
                call = engine.registry.calls[session]
                stream = call.open_streams[0]
                assert stream.call_control_id == ccid
                assert stream.injection is not None  # whisper can go back on it
            finally:
                await ws.close()
            rows = _audit(engine, None)
            assert any(a == "stream_requested" and session in d for a, d in rows)
            # The duplicate and the forgery never reached call control.
            assert cc.server is not None
            assert (cc.server.stats.duplicate, cc.server.stats.bad_signature) == (1, 1)


async def test_no_stream_for_stale_unwanted_or_refused_answers(tmp_path: Path) -> None:
    with TelnyxStandIn() as standin:
        async with _console(tmp_path, standin) as (engine, cc):
            # call.hangup arrives before call.answered (delivery out of order): no stream.
            late = standin.add_call()
            payload = _leg_payload(late.call_control_id, late.call_session_id, "incoming")
            assert await _webhook(standin, cc, "call.hangup",
                                  {**payload, "hangup_cause": "normal_clearing"}) == 200
            assert await _webhook(standin, cc, "call.answered", payload) == 200
            # An outgoing leg (the agent's) is not streamed when set to incoming calls.
            agent = standin.add_call()
            assert await _webhook(standin, cc, "call.answered", _leg_payload(
                agent.call_control_id, agent.call_session_id, "outgoing")) == 200
            # Telnyx refuses (the call ended meanwhile): said, audited, nothing breaks.
            gone = standin.add_call()
            standin.fail_next("streaming_start", 422, "90018", "Call has already ended")
            assert await _webhook(standin, cc, "call.answered", _leg_payload(
                gone.call_control_id, gone.call_session_id, "incoming")) == 200
            await _until(lambda: cc.stats.api_errors == 1)
            assert "90018" in cc.stats.last_error
            rows = _audit(engine, None)
            assert any(a == "stream_request_failed" and "Call has already ended" in d
                       for a, d in rows)
            # Only the refused one was asked for: not the stale nor the outgoing leg.
            asked = standin.requests_for("streaming_start")
            assert len(asked) == 1 and gone.call_control_id in unquote(asked[0].path)
            # streaming.failed is reported with its reason.
            failed = json.loads((Path(__file__).parents[1] / "data/protocols/fixtures/"
                                 "telnyx/webhook_streaming_failed.json").read_text())
            assert await _webhook(standin, cc, "streaming.failed",
                                  failed["data"]["payload"]) == 200
            await _until(lambda: cc.stats.stream_failures == 1)
            assert "connection_failed" in cc.stats.last_error


async def _live_call(standin: TelnyxStandIn, engine: Engine, cc: CallControl,
                     agent_known: bool = True) -> tuple[str, str, str, Any]:
    """A customer leg streamed to the console and (optionally) the agent's leg bridged to
    it, as Call Control's webhooks describe them."""
    customer = standin.add_call()
    session, ccid = customer.call_session_id, customer.call_control_id
    assert await _webhook(standin, cc, "call.answered",
                          _leg_payload(ccid, session, "incoming")) == 200
    await _until(lambda: standin.requests_for("streaming_start"))
    ws = await _stream_as_telnyx(standin.requests_for("streaming_start")[0].body, ccid,
                                 session)
    await _until(lambda: session in engine.registry.calls)
    agent_ccid = ""
    if agent_known:
        agent = standin.add_call(to="+18005550777")
        agent_ccid = agent.call_control_id
        assert await _webhook(standin, cc, "call.answered", _leg_payload(
            agent_ccid, session, "outgoing", to="+18005550777")) == 200
        await _until(lambda: agent_ccid in cc.legs)
    return session, ccid, agent_ccid, ws


async def test_supervisor_phone_dial_switch_and_hang_up(tmp_path: Path) -> None:
    with TelnyxStandIn(answer_after=0.05) as standin:
        async with _console(tmp_path, standin) as (engine, cc):
            session, _customer, agent, ws = await _live_call(standin, engine, cc)
            try:
                phone = await cc.dial(session, "whisper", "Ana")
                dial = standin.requests_for("dial")[0].body
                assert dial["supervise_call_control_id"] == agent  # the agent hears it
                assert dial["supervisor_role"] == "whisper"
                assert (dial["to"], dial["from"], dial["connection_id"]) == (
                    "+18005550123", "+18005550100", "7267xxxxxxxxxxxxxx")
                # The stand-in answers the phone and says so by webhook.
                await _until(lambda: cc.phone(session).state == "answered")  # type: ignore[union-attr]
                with pytest.raises(Refused, match="already on this call"):
                    await cc.dial(session, "monitor", "Ana")
                await cc.switch(session, "barge", "Ana")
                switch = standin.requests_for("switch_supervisor_role")[0]
                assert switch.body == {"role": "barge"}
                assert phone.call_control_id in unquote(switch.path)
                await cc.hangup(session, "Ana")
                assert cc.phone(session).state == "ended"  # type: ignore[union-attr]
                assert len(standin.requests_for("hangup")) == 1
                with pytest.raises(Refused, match="not on this call"):
                    await cc.switch(session, "monitor", "Ana")
                rows = _audit(engine, session)
                actions = [a for a, _ in rows]
                assert actions[-4:] == ["phone_dial", "phone_answered", "phone_role",
                                        "phone_hangup"]
                assert "whisper" in rows[-4][1] and "whisper -> barge" in rows[-2][1]
            finally:
                await ws.close()


async def test_supervisor_phone_refusals_say_why(tmp_path: Path) -> None:
    with TelnyxStandIn(answer_after=None) as standin:
        async with _console(tmp_path, standin) as (engine, cc):
            session, customer, _agent, ws = await _live_call(standin, engine, cc,
                                                              agent_known=False)
            try:
                # Nobody says which leg is the agent's: a whisper could reach the customer.
                with pytest.raises(Refused, match="agent's"):
                    await cc.dial(session, "whisper", "Ana")
                assert not standin.requests_for("dial")
                # Monitoring is safe on the streamed leg.
                phone = await cc.dial(session, "monitor", "Ana")
                assert standin.requests_for("dial")[0].body[
                    "supervise_call_control_id"] == customer
                with pytest.raises(Refused, match="agent's"):
                    await cc.switch(session, "whisper", "Ana")
                # The supervisor's phone hangs up by itself: the console follows.
                standin.end_call(phone.call_control_id)
                await _until(lambda: cc.phone(session).state == "ended")  # type: ignore[union-attr]
                # Telnyx refuses a dial: the reason reaches the supervisor and the log.
                standin.fail_next("dial", 422, "10015", "Invalid destination",
                                  "to is not a valid number")
                with pytest.raises(Refused, match="Invalid destination"):
                    await cc.dial(session, "monitor", "Ana")
                with pytest.raises(Refused, match="not live"):
                    await cc.dial("no-such-call", "monitor", "Ana")
                with pytest.raises(Refused, match="Unknown role"):
                    await cc.dial(session, "shout", "Ana")
                actions = [a for a, _ in _audit(engine, session)]
                assert "phone_ended" in actions and "phone_dial_failed" in actions
            finally:
                await ws.close()


async def test_phone_legs_need_their_settings(tmp_path: Path) -> None:
    with TelnyxStandIn() as standin:
        async with _console(tmp_path, standin, telnyx_connection_id="",
                            supervisor_phone="") as (_engine, cc):
            assert "connection" in cc.ready() and "supervisor_phone" in cc.ready()
            with pytest.raises(Refused, match="Settings > Telnyx"):
                await cc.dial("any", "monitor", "Ana")


async def test_mp3_mode_from_settings_reaches_telnyx_and_the_stream(tmp_path: Path) -> None:
    with TelnyxStandIn() as standin:
        async with _console(tmp_path, standin,
                            telnyx_bidirectional_mode="mp3") as (engine, cc):
            customer = standin.add_call()
            session, ccid = customer.call_session_id, customer.call_control_id
            assert await _webhook(standin, cc, "call.answered",
                                  _leg_payload(ccid, session, "incoming")) == 200
            await _until(lambda: standin.requests_for("streaming_start"))
            body = standin.requests_for("streaming_start")[0].body
            assert body["stream_bidirectional_mode"] == "mp3"
            assert "stream_bidirectional_codec" not in body  # only used with rtp
            ws = await _stream_as_telnyx(body, ccid, session)
            try:
                await _until(lambda: session in engine.registry.calls)
                inj = engine.registry.calls[session].open_streams[0].injection
                assert inj is not None and inj.mode == "mp3"  # prompts as MP3 files
            finally:
                await ws.close()


def test_settings_refuse_a_bad_public_key_and_values() -> None:
    from console.config import ConfigError

    with pytest.raises(ConfigError, match="telnyx_public_key"):
        Settings(telnyx_public_key="not a key").validate()
    with pytest.raises(ConfigError, match="stream_on_answer"):
        Settings(stream_on_answer="sometimes").validate()
    with pytest.raises(ConfigError, match="webhook_path"):
        Settings(webhook_path="telnyx").validate()
    with pytest.raises(ConfigError, match="telnyx_bidirectional_mode"):
        Settings(telnyx_bidirectional_mode="wav").validate()
    key = base64.b64encode(bytes(32)).decode()
    assert Settings(telnyx_public_key=key).validate().telnyx_public_key == key
