"""Demo dialogues: two time-aligned 8 kHz tracks per call plus the script of who said what."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from console.audio.wav import read_wav
from console.resources import resource_dir

__all__ = ["Dialogue", "load_dialogues"]


@dataclass(frozen=True)
class Dialogue:
    name: str
    title: str
    from_number: str
    to_number: str
    customer: npt.NDArray[np.int16]  # 8 kHz mono
    agent: npt.NDArray[np.int16]
    rate: int
    turns: list[dict[str, Any]] = field(default_factory=list)
    dtmf: list[dict[str, Any]] = field(default_factory=list)
    customer_name: str = ""
    agent_name: str = ""

    @property
    def duration_s(self) -> float:
        return self.customer.size / self.rate


def _load(folder: Path) -> Dialogue:
    script = json.loads((folder / "script.json").read_text())
    cust, rate = read_wav(folder / "customer.wav")
    agent, rate2 = read_wav(folder / "agent.wav")
    if rate != rate2:
        raise ValueError(f"{folder}: tracks have different rates")
    n = max(cust.shape[0], agent.shape[0])
    c = np.zeros(n, np.int16)
    a = np.zeros(n, np.int16)
    c[: cust.shape[0]] = cust[:, 0]
    a[: agent.shape[0]] = agent[:, 0]
    return Dialogue(
        name=folder.name, title=script.get("title", folder.name),
        from_number=script.get("from", "+14155550100"), to_number=script.get("to", "+18005550100"),
        customer=c, agent=a, rate=rate, turns=script.get("turns", []),
        dtmf=script.get("dtmf", []), customer_name=script.get("customer_name", ""),
        agent_name=script.get("agent_name", ""),
    )


@cache
def load_dialogues(folder: Path | None = None) -> tuple[Dialogue, ...]:
    base = folder or resource_dir() / "calls"
    found = tuple(_load(p) for p in sorted(base.iterdir()) if (p / "script.json").exists())
    if not found:
        raise FileNotFoundError(f"no demo calls in {base}")
    return found
