"""The Phone menu in a call's view, through the real window: offered only with Call Control
set up, it rings the supervisor's phone as a Telnyx supervisor leg, switches its role and
hangs it up, and says why when it cannot."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from telnyx_standin import TelnyxStandIn
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def standin() -> Iterator[TelnyxStandIn]:
    with TelnyxStandIn(answer_after=0.05) as s:
        yield s


@pytest.fixture
def phone_console(qapp, standin: TelnyxStandIn, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    from console.config import Settings
    from console.ui.app import Console
    from console.ui.theme import apply_theme

    port = _free_port()
    settings = Settings(
        host="127.0.0.1", port=port, data_dir=str(tmp_path / "data"), token="test-token",
        transcribe=False, public_url=f"ws://127.0.0.1:{port}/telnyx",
        telnyx_api_key=standin.api_key, telnyx_public_key=standin.public_key_b64,
        telnyx_api_url=standin.base_url, webhook_port=0, supervisor_name="Ana",
        telnyx_connection_id="7267xxxxxxxxxxxxxx", telnyx_from_number="+18005550100",
        supervisor_phone="+18005550123", agent_endpoints=["+1800555077*"]).validate()
    apply_theme(qapp, "dark")
    c = Console(qapp, settings)
    c.window.show()
    yield c
    c.shutdown()
    c.window.close()
    c.window.deleteLater()


def test_phone_menu_rings_switches_and_hangs_up(phone_console, standin: TelnyxStandIn,  # type: ignore[no-untyped-def]
                                                qtbot) -> None:
    w = phone_console.window
    cc = phone_console.engine.call_control
    assert cc is not None
    standin.webhook_url = cc.webhook_url
    # Connect shows where Telnyx should post its webhooks.
    qtbot.waitUntil(lambda: w.connection.webhook.text() == cc.webhook_url, timeout=5000)
    assert cc.webhook_url.endswith("/telnyx/webhook")
    customer = standin.add_call()
    agent = standin.add_call(to="+18005550777")  # matches the agents' numbers in Settings
    session = customer.call_session_id
    for leg, direction in ((customer, "incoming"), (agent, "outgoing")):
        assert standin.send_webhook(cc.webhook_url, "call.answered", {
            "call_control_id": leg.call_control_id, "call_session_id": session,
            "direction": direction, "from": leg.from_, "to": leg.to}) == 200
    qtbot.waitUntil(lambda: bool(standin.requests_for("streaming_start")), timeout=10000)
    with connect(phone_console.engine.url,
                 additional_headers={"x-telnyx-streaming-auth-token": "test-token"}) as ws:
        ws.send(json.dumps({
            "event": "start", "sequence_number": "1", "stream_id": "st-1",
            "start": {"call_control_id": customer.call_control_id,
                      "call_session_id": session, "from": customer.from_,
                      "to": customer.to, "custom_parameters": {"leg": "customer"},
                      "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                       "channels": 1}}}))
        qtbot.waitUntil(lambda: session in w.wall.tiles, timeout=10000)
        w.wall.select(session)
        view = w.view
        qtbot.waitUntil(lambda: view.phone_button.isVisible()
                        and view.phone_button.isEnabled(), timeout=5000)
        assert not view.phone_actions["hangup"].isEnabled()

        view.phone_actions["dial:whisper"].trigger()
        qtbot.waitUntil(lambda: "Ringing your phone" in w.phone_message, timeout=10000)
        dial = standin.requests_for("dial")[0].body
        assert dial["supervisor_role"] == "whisper"
        assert dial["supervise_call_control_id"] == agent.call_control_id
        qtbot.waitUntil(lambda: "whisper, answered" in view.phone_badge.text(), timeout=10000)
        assert not view.phone_actions["dial:monitor"].isEnabled()
        assert not view.phone_actions["role:whisper"].isEnabled()  # already whispering

        view.phone_actions["role:monitor"].trigger()
        qtbot.waitUntil(lambda: "now monitors" in w.phone_message, timeout=10000)
        switch = standin.requests_for("switch_supervisor_role")[0]
        assert switch.body == {"role": "monitor"}
        phone = cc.phone(session)
        assert phone is not None and phone.call_control_id in unquote(switch.path)

        view.phone_actions["hangup"].trigger()
        qtbot.waitUntil(lambda: "left the call" in w.phone_message, timeout=10000)
        qtbot.waitUntil(lambda: "off the call" in view.phone_badge.text(), timeout=5000)
        assert view.phone_actions["dial:barge"].isEnabled()

        # Telnyx refuses: the reason is shown, not swallowed.
        standin.fail_next("dial", 422, "10015", "Invalid destination")
        view.phone_actions["dial:barge"].trigger()
        qtbot.waitUntil(lambda: "Invalid destination" in w.phone_message, timeout=10000)


def test_phone_menu_hidden_without_call_control(qapp, settings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from console.ui.app import Console

    console = Console(qapp, settings)
    w = console.window
    w.show()
    try:
        _plain_call(console, w, qtbot)
    finally:
        console.shutdown()
        w.close()
        w.deleteLater()


def _plain_call(console, w, qtbot) -> None:  # type: ignore[no-untyped-def]
    with connect(console.engine.url,
                 additional_headers={"Authorization": "Bearer test-token"}) as ws:
        from helpers import telnyx_start

        ws.send(telnyx_start("s1", "call-plain"))
        qtbot.waitUntil(lambda: "call-plain" in w.wall.tiles, timeout=10000)
        w.wall.select("call-plain")
        qtbot.waitUntil(lambda: w.view.prompt_button.isEnabled(), timeout=5000)
        assert console.engine.call_control is None
        assert not w.view.phone_button.isVisible()
        assert w.connection.webhook.isHidden()
