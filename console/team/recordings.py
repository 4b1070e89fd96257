"""Recorded calls on the team's bus: each node puts a call's WAV in the object store when the
call ends; any console or command line fetches it from there."""

from __future__ import annotations

from typing import Any

from console.store.export_wav import NotRecorded
from console.team.subjects import AUDIO_STORE, token

__all__ = ["fetch_recording"]


async def fetch_recording(js: Any, call_id: str, live: bool) -> bytes:
    """The call's WAV; NotRecorded says why there is none (still live, or not recorded)."""
    from nats.js.errors import NotFoundError, ObjectNotFoundError

    store = await js.object_store(AUDIO_STORE)
    try:
        result = await store.get(token(call_id) + ".wav")
    except (NotFoundError, ObjectNotFoundError):
        if live:
            raise NotRecorded(f"call {call_id} is still live: its audio reaches the team's "
                              "bus when it ends") from None
        raise NotRecorded(f"no audio of call {call_id} on the team's bus: its node was not "
                          "recording (serve --record)") from None
    return bytes(result.data)
