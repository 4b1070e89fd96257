"""Conversation metrics from who spoke when: talk time and ratio, the longest silence, and
how often the two talked over each other."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConversationMetrics", "conversation_metrics"]

Interval = tuple[float, float]


@dataclass(frozen=True)
class ConversationMetrics:
    customer_talk_s: float
    agent_talk_s: float
    talk_ratio: float | None  # the customer's share of all talk, 0..1
    longest_silence_s: float
    overtalk_count: int
    overtalk_s: float


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def conversation_metrics(customer: list[Interval], agent: list[Interval],
                         call_s: float, min_overtalk_s: float = 0.5) -> ConversationMetrics:
    cust, ag = _merge(customer), _merge(agent)
    c_talk = sum(e - s for s, e in cust)
    a_talk = sum(e - s for s, e in ag)
    both = _merge(cust + ag)
    gaps, last = [], 0.0
    for s, e in both:
        gaps.append(s - last)
        last = max(last, e)
    gaps.append(max(0.0, call_s - last))
    over_count, over_s = 0, 0.0
    i = j = 0
    while i < len(cust) and j < len(ag):
        lo, hi = max(cust[i][0], ag[j][0]), min(cust[i][1], ag[j][1])
        if hi - lo >= min_overtalk_s:
            over_count += 1
            over_s += hi - lo
        if cust[i][1] < ag[j][1]:
            i += 1
        else:
            j += 1
    total = c_talk + a_talk
    return ConversationMetrics(
        round(c_talk, 2), round(a_talk, 2), round(c_talk / total, 3) if total else None,
        round(max(gaps), 2), over_count, round(over_s, 2))
