"""The seam between taking calls in and showing them: a `CallSource`.

Two implementations stand behind it:
- `console.engine.Engine`, the one-laptop console: its own stream server, protocols,
  registry, analysis and store, joined to the window in-process;
- `console.team.console.TeamEngine`, a console in team mode: the same call events and
  waveform rings, filled from the team's NATS bus by ingest nodes (`serve --bus`), which
  run the Engine half and publish through `console.team.node.TeamNode`.

Everything the window and the bridge use goes through this shape, so neither knows which
one it has. Listening and talking have the same split (`supervisor.controller` and
`team.console_audio`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from console.audio.ring import RingBuffer
from console.core.bus import EventBus

__all__ = ["CallSource", "RingLookup"]


class RingLookup(Protocol):
    @property
    def rings(self) -> Mapping[str, RingBuffer]: ...


class CallSource(Protocol):
    bus: EventBus  # every call event, in order per call; subscribers must be quick
    data_dir: Path  # the store History reads (a team console's copy of the team's store)
    loop: asyncio.AbstractEventLoop | None  # where listen and talk run
    port: int | None  # the stream server's port; None when streams go elsewhere (team)

    @property
    def registry(self) -> RingLookup: ...  # waveform rings by track key

    @property
    def url(self) -> str: ...  # where streams go (one laptop) or the bus (team)

    @property
    def transcription(self) -> str: ...  # "on: ...", "off: why", "starting", ...

    def stats(self) -> Any: ...  # console.engine.EngineStats

    def set_focus(self, call_id: str | None) -> None: ...  # gets tentative text
