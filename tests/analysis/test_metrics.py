"""Conversation metrics: from the demo scripts' turns, with their known overtalk."""

from __future__ import annotations

import pytest

from console.analysis.metrics import conversation_metrics
from console.sim.dialogues import load_dialogues


def test_metrics_from_a_script() -> None:
    d = next(x for x in load_dialogues() if x.name == "angry-double-charge")
    cust = [(t["start_s"], t["end_s"]) for t in d.turns if t["speaker"] == "customer"]
    agent = [(t["start_s"], t["end_s"]) for t in d.turns if t["speaker"] == "agent"]
    m = conversation_metrics(cust, agent, d.duration_s)
    assert m.overtalk_count == 1 and m.overtalk_s == pytest.approx(0.5, abs=0.05)
    assert m.talk_ratio == pytest.approx(m.customer_talk_s / (m.customer_talk_s
                                                              + m.agent_talk_s), abs=0.001)
    assert 0.3 <= m.longest_silence_s <= 5.0


def test_edge_cases() -> None:
    m = conversation_metrics([], [], 30.0)
    assert m.talk_ratio is None and m.longest_silence_s == 30.0 and m.overtalk_count == 0
    m = conversation_metrics([(0, 5), (4, 6)], [(10, 12)], 20.0)
    assert m.customer_talk_s == 6.0 and m.longest_silence_s == 8.0  # after the last word
    m = conversation_metrics([(0, 5)], [(4.8, 9)], 9.0, min_overtalk_s=0.5)
    assert m.overtalk_count == 0  # a 0.2 s overlap is a normal turn change
