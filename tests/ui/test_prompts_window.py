"""Prompts from the window: the Prompt menu plays a picked recording to the agent, refuses
what cannot reach the right people (with the reason), and stops with a clear. Real window,
real engine thread, a provider on a real socket."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
from helpers import peak_frequency, telnyx_start, tone_s
from websockets.sync.client import connect

from console.audio.codecs import ulaw_decode
from console.audio.wav import write_wav

pytestmark = pytest.mark.timeout(60)


class Provider:
    """A Telnyx stream on the customer's leg that keeps what the console sends back."""

    def __init__(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.ws = ws
        self.ws.send(telnyx_start("s1", "call-p", params={"leg": "customer"}))
        self.got: list[dict] = []  # type: ignore[type-arg]
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                self.got.append(json.loads(raw))
        except Exception:
            pass

    def events(self, name: str) -> list[dict]:  # type: ignore[type-arg]
        return [m for m in list(self.got) if m.get("event") == name]


def test_prompt_menu_plays_refuses_and_stops(console, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    with connect(console.engine.url,
                 additional_headers={"Authorization": "Bearer test-token"}) as ws:
        sent = _play(console, qtbot, w, Provider(ws), tmp_path)
    assert sent < 200  # stopped well before the 4 s (200 frames) were sent


def _play(console, qtbot, w, provider: Provider, tmp_path: Path) -> int:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: "call-p" in w.wall.tiles, timeout=10000)
    w.wall.select("call-p")
    qtbot.waitUntil(lambda: w.view.prompt_button.isEnabled(), timeout=5000)

    # The standard notice to both: one stream reaching the agent cannot barge.
    w.view.prompt_actions["notice:barge"].trigger()
    qtbot.waitUntil(lambda: "Cannot barge" in getattr(w, "prompt_message", ""),
                    timeout=10000)

    recording = tmp_path / "coaching.wav"
    write_wav(recording, tone_s(300, 16000, 4.0), 16000)
    w.pick_prompt_file = lambda: str(recording)  # the file dialog's answer
    w.view.prompt_actions["file:whisper"].trigger()
    qtbot.waitUntil(lambda: "Playing coaching.wav" in w.prompt_message, timeout=10000)
    qtbot.waitUntil(lambda: len(provider.events("media")) >= 25, timeout=10000)
    heard = ulaw_decode(b"".join(base64.b64decode(m["media"]["payload"])
                                 for m in provider.events("media")[:25]))
    assert abs(peak_frequency(heard, 8000) - 300) < 10
    w.view.prompt_actions["stop"].trigger()
    qtbot.waitUntil(lambda: bool(provider.events("clear")), timeout=5000)
    sent = len(provider.events("media"))
    assert console.engine.store.flush()
    from support import audit_rows

    actions = [a for a, _ in audit_rows(console.settings.data_path(), "call-p")]
    assert {"prompt_refused", "prompt_start", "prompt_stop"} <= set(actions)
    return sent
