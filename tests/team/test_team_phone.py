"""The supervisor's phone from a team console: the node that holds the call has the Telnyx
Call Control settings and dials the console's own phone as a supervisor leg; every console
follows the leg's state from the audit facts. Real nats-server, a real node process, a
provider on a real socket, and the stand-in for Telnyx's REST API and webhooks."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from helpers import telnyx_start
from team_support import Node, wait_until
from telnyx_standin import TelnyxStandIn
from websockets.sync.client import connect

from console.callcontrol.control import Refused
from console.config import Settings
from console.team.busserver import BusServer
from console.team.console import TeamEngine, TeamEngineThread


def test_a_team_console_rings_its_own_phone_through_the_node(
        bus: BusServer, tmp_path: Path) -> None:
    with TelnyxStandIn(answer_after=0.05) as standin:
        standin.add_call("v3:tp1")  # the agent's leg the stream runs on
        node = Node(bus.url(), "east", tmp_path / "east", "--webhook-port", "0",
                    "--telnyx-public-key", standin.public_key_b64, env_extra={
                        "COACH_CONSOLE_TELNYX_API_KEY": standin.api_key,
                        "COACH_CONSOLE_TELNYX_API_URL": standin.base_url,
                        "COACH_CONSOLE_TELNYX_CONNECTION_ID": "7267xxxxxxxxxxxxxx",
                        "COACH_CONSOLE_TELNYX_FROM_NUMBER": "+18005550100"})
        banner = "".join(node.lines)
        found = re.search(r"webhooks at (http://\S+);", banner)
        assert found, banner
        standin.webhook_url = found.group(1)
        assert standin.api_key not in banner  # the key is never printed
        engine = TeamEngine(Settings(bus_url=bus.url(), data_dir=str(tmp_path / "console"),
                                     supervisor_name="Ana",
                                     supervisor_phone="+18005550999").validate())
        thread = TeamEngineThread(engine)
        try:
            thread.start(30)
            cc = engine.call_control
            with connect(node.url,
                         additional_headers={"Authorization": "Bearer stream-token"}) as ws:
                ws.send(telnyx_start("tp1", "call-phone", params={"leg": "agent"}))
                wait_until(lambda: "call-phone" in engine.registry.calls)
                wait_until(lambda: cc.offered_for("call-phone", "telnyx"))
                assert engine.loop is not None

                def ask(coro: Any) -> Any:
                    return asyncio.run_coroutine_threadsafe(coro, engine.loop).result(40)

                phone = ask(cc.dial("call-phone", "whisper", "Ana"))
                assert (phone.role, phone.supervisor) == ("whisper", "Ana")
                dial = standin.requests_for("dial")[0].body
                assert dial["to"] == "+18005550999"  # this console's phone, not the node's
                assert dial["supervise_call_control_id"] == "v3:tp1"
                assert dial["supervisor_role"] == "whisper"
                # Telnyx answers the phone; the node hears it by webhook, the console by fact.
                wait_until(lambda: cc.phone("call-phone").state == "answered")
                # Another supervisor's console sees Ana's phone, and cannot add a second.
                bob = TeamEngine(Settings(bus_url=bus.url(), data_dir=str(tmp_path / "bob"),
                                          supervisor_name="Bob").validate())
                bob_thread = TeamEngineThread(bob)
                try:
                    bob_thread.start(30)
                    wait_until(lambda: "call-phone" in bob.registry.calls)
                    seen = wait_until(lambda: bob.call_control.phone("call-phone"))
                    assert (seen.supervisor, seen.role) == ("Ana", "whisper")
                    wait_until(lambda: seen.state == "answered")
                    assert bob.loop is not None
                    try:
                        asyncio.run_coroutine_threadsafe(
                            bob.call_control.dial("call-phone", "barge", "Bob"),
                            bob.loop).result(40)
                        raise AssertionError("a second phone on the call was allowed")
                    except Refused as exc:
                        assert "Ana's phone is already on this call" in str(exc)
                finally:
                    bob_thread.stop()
                assert ask(cc.switch("call-phone", "barge", "Ana")).role == "barge"
                assert standin.requests_for("switch_supervisor_role")[0].body == {
                    "role": "barge"}
                assert ask(cc.hangup("call-phone", "Ana")).state == "ended"
                wait_until(lambda: cc.phone("call-phone").state == "ended")
                assert len(standin.requests_for("hangup")) == 1
        finally:
            thread.stop()
            node.stop()


def test_nodes_without_call_control_offer_no_phone(bus: BusServer, tmp_path: Path) -> None:
    node = Node(bus.url(), "west", tmp_path / "west")
    engine = TeamEngine(Settings(bus_url=bus.url(), data_dir=str(tmp_path / "console"),
                                 supervisor_name="Ana").validate())
    thread = TeamEngineThread(engine)
    try:
        thread.start(30)
        with connect(node.url, additional_headers={"Authorization": "Bearer stream-token"}
                     ) as ws:
            ws.send(telnyx_start("tw1", "call-nophone"))
            wait_until(lambda: "call-nophone" in engine.registry.calls)
            wait_until(lambda: "west" in engine.alive_nodes())
            cc = engine.call_control
            assert not cc.offered and not cc.offered_for("call-nophone", "telnyx")
            assert engine.loop is not None
            try:
                asyncio.run_coroutine_threadsafe(
                    cc.dial("call-nophone", "monitor", "Ana"), engine.loop).result(40)
                raise AssertionError("a node without Call Control dialled")
            except Refused as exc:
                assert "no Telnyx Call Control" in str(exc)
    finally:
        thread.stop()
        node.stop()
