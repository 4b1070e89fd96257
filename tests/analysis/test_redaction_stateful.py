"""Redaction with memory across utterances: a number read out in groups over several
segments, or a short answer to "the last four?", is masked in every part, and segments
already published are corrected in place (same segment_id) on the bus and in the window."""

from __future__ import annotations

import asyncio

from console.analysis import redaction
from console.analysis.pipeline import AnalysisPipeline, _Meta
from console.analysis.redaction import CallRedactor, redact
from console.core.bus import EventBus
from console.core.events import CallEvent, CallStarted, Provider, Role, TranscriptSegment
from console.ui.model import CallsModel

CARD = "[card number]"
GROUPS = ["4539", "1488", "0343", "6467"]  # one Luhn-valid card number


def _feed(red: CallRedactor, segs: list[tuple[str, str, float, float, str]]) -> dict[str, str]:
    """Final text per segment id, with every correction applied (held ones let go at the
    end, as when the call ends)."""
    out: dict[str, str] = {}
    for sid, who, start, end, text in segs:
        r = red.push(sid, who, start, end, text)
        if not r.pending:
            out[sid] = r.text
        out.update(r.released)
        out.update(r.corrections)
    out.update(red.flush())
    return out


def test_groups_over_pauses_are_one_card_and_earlier_parts_are_corrected() -> None:
    red = CallRedactor(hold=False)
    first = red.push("c1", "customer", 3.0, 3.8, "4539")
    assert first.text == "4539" and not first.corrections  # alone: could be a year
    second = red.push("c2", "customer", 5.0, 5.7, "1488")
    assert second.text == "[digits]" and second.corrections == {"c1": "[digits]"}
    red.push("c3", "customer", 7.1, 7.9, "0343")
    last = red.push("c4", "customer", 9.0, 9.8, "6467.")
    # The whole card is now known: every part says so, the earlier ones by correction.
    assert last.text == CARD + "." and last.found == ["card"]
    assert last.corrections == {"c1": CARD, "c2": CARD, "c3": CARD}


def test_issue_examples_alone() -> None:
    assert redact("the last four are 5501").text == "the last four are [digits]"
    assert redact("3 8 2 1").text == "[digits]"


def test_the_agents_question_makes_the_answer_sensitive() -> None:
    red = CallRedactor()
    red.push("a1", "agent", 0.0, 2.0, "Can I have the last four of the card?")
    assert red.push("c1", "customer", 2.5, 3.2, "5501").text == "[digits]"
    assert red.push("c2", "customer", 4.0, 5.0, "fifty five oh one").text == "[digits]"
    # The next topic ends the context: a zip code is not a payment number.
    red.push("a2", "agent", 6.0, 7.5, "And the billing zip code?")
    assert red.push("c3", "customer", 8.0, 9.0, "90210").text == "90210"


def test_context_and_joins_are_bounded() -> None:
    red = CallRedactor()
    red.push("a1", "agent", 0.0, 2.0, "What's the card number?")
    # Long after the question, a short number is just a number again.
    late = 2.0 + redaction.CONTEXT_S + 10
    first = red.push("c1", "customer", late, late + 1, "2016")
    assert first.pending and first.text == "[digits]"  # may be the start of a card
    # Groups further apart than JOIN_GAP_S are separate numbers: the next one decides the
    # first, which was just a number, and is held in turn.
    gap = late + 1 + redaction.JOIN_GAP_S + 5
    second = red.push("c2", "customer", gap, gap + 1, "1488")
    assert second.pending and second.released == {"c1": "2016"}
    assert red.release("customer", gap + 1 + redaction.JOIN_GAP_S) == {}  # not yet
    assert red.release("customer", gap + 1.1 + redaction.JOIN_GAP_S) == {"c2": "1488"}
    assert "c1" in red and "c2" in red and not red.holding()


def test_speakers_are_not_joined() -> None:
    # The agent saying 1488 does not make the customer's 4539 part of one number.
    out = _feed(CallRedactor(), [("c1", "customer", 0.0, 1.0, "4539"),
                                 ("a1", "agent", 1.5, 2.5, "1488")])
    assert out == {"c1": "4539", "a1": "1488"}


def test_out_of_order_arrival_still_corrects() -> None:
    # Two speech workers: a later group's text can come back first, and the question after
    # its answer.
    out = _feed(CallRedactor(), [
        ("c3", "customer", 7.1, 7.9, "0343"), ("c1", "customer", 3.0, 3.8, "4539"),
        ("c4", "customer", 9.0, 9.8, "6467"), ("c2", "customer", 5.0, 5.7, "1488"),
        ("c5", "customer", 13.0, 13.6, "7731"), ("a1", "agent", 11.0, 12.5, "The last four?"),
    ])
    assert out == {"c1": CARD, "c2": CARD, "c3": CARD, "c4": CARD, "c5": "[digits]",
                   "a1": "The last four?"}


def test_memory_is_bounded_and_old_segments_are_left() -> None:
    red = CallRedactor()
    red.push("old", "customer", 0.0, 1.0, "4539")
    for i in range(redaction.MAX_SEGMENTS + 5):
        red.push(f"s{i}", "agent", 10.0 + i, 10.5 + i, "okay")
    assert "old" not in red
    assert len(red._segs) == redaction.MAX_SEGMENTS
    t = 10.0 + redaction.MAX_SEGMENTS + 5 + redaction.WINDOW_S
    red.push("x", "agent", t, t + 1, "okay")
    assert [s.sid for s in red._segs] == ["x"]


def test_tentative_text_is_masked_without_being_remembered() -> None:
    red = CallRedactor()
    red.push("a1", "agent", 0.0, 1.5, "Card number?")
    red.push("c1", "customer", 2.0, 2.8, "4539")
    assert red.peek("c2", "customer", 4.0, 4.6, "1488") == "[digits]"
    assert "c2" not in red
    # The final text may differ from the tentative one; only the final counts.
    assert red.push("c2", "customer", 4.0, 5.0, "thanks").corrections == {}


async def test_pipeline_republishes_corrected_segments_and_the_window_shows_them() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    loop = asyncio.get_running_loop()
    pipeline = AnalysisPipeline(bus, loop, meaning=False)
    model = CallsModel()
    model.apply([CallStarted("k1", Provider.TELNYX, "+1555", "+1800", 100.0)])
    for i, group in enumerate(GROUPS):
        start = 3.0 + 2 * i
        if i == 3:  # tentative text of the last group, while it is being said
            pipeline._publish("k1", _Meta(f"g{i}", Role.CUSTOMER, start, start + 0.5,
                                          loop.time(), partial=True), group)
        pipeline._publish("k1", _Meta(f"g{i}", Role.CUSTOMER, start, start + 0.8,
                                      loop.time()), group)
    segs = [e for e in seen if isinstance(e, TranscriptSegment)]
    partial = [s for s in segs if not s.final]
    # The first group, held back (alone it may be a year or the start of a card), is shown
    # masked meanwhile; the last one's tentative text, with the groups before it, a card.
    assert [(s.segment_id, s.text) for s in partial] == [("g0", "[digits]"), ("g3", CARD)]
    # Each correction is the earlier final segment again: same id, times and score.
    finals = [s for s in segs if s.final]
    by_id: dict[str, list[TranscriptSegment]] = {}
    for s in finals:
        by_id.setdefault(s.segment_id, []).append(s)
    assert [s.text for s in by_id["g0"]] == ["[digits]", CARD]  # never raw
    assert {(s.start_s, s.end_s, s.sentiment) for s in by_id["g0"]} == {(3.0, 3.8, 0.0)}
    model.apply(list(seen))
    shown = [s.text for s in model.calls["k1"].transcript()]
    assert shown == [CARD] * 4
    assert not any(g in text for g in GROUPS for text in shown)


async def test_pipeline_without_redaction_keeps_the_words() -> None:
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    pipeline = AnalysisPipeline(bus, asyncio.get_running_loop(), redaction=False, meaning=False)
    for i, group in enumerate(GROUPS):
        pipeline._publish("k1", _Meta(f"g{i}", Role.CUSTOMER, 2.0 * i, 2.0 * i + 1, 0.0), group)
    assert [e.text for e in seen if isinstance(e, TranscriptSegment)] == GROUPS


def test_a_segment_pushed_again_stays_masked() -> None:
    red = CallRedactor()
    red.push("c1", "customer", 0.0, 1.0, "4539")
    red.push("c2", "customer", 2.0, 3.0, "1488")
    assert red.push("c1", "customer", 0.0, 1.0, "4539").text == "[digits]"


async def test_with_meaning_on_no_final_segment_is_ever_less_masked_than_before() -> None:
    """Final lines wait a moment for their meaning (intents, sentiment, topic) on another
    thread; a correction that masks more meanwhile must be what goes out."""
    from helpers import wait_for

    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(seen.append)
    loop = asyncio.get_running_loop()
    pipeline = AnalysisPipeline(bus, loop)
    assert pipeline.meaning is not None
    try:
        for i, group in enumerate(GROUPS):
            start = 3.0 + 2 * i
            pipeline._publish("k1", _Meta(f"g{i}", Role.CUSTOMER, start, start + 0.8,
                                          loop.time()), group)
        await wait_for(lambda: sum(isinstance(e, TranscriptSegment) and e.final
                                   for e in seen) >= 4, 60)
        await asyncio.sleep(0.3)
        finals = [e for e in seen if isinstance(e, TranscriptSegment) and e.final]
        assert not any(g in s.text for g in GROUPS for s in finals)  # never raw
        latest = {s.segment_id: s for s in finals}
        assert {s.text for s in latest.values()} == {CARD}
        assert all(s.sentiment_label is not None for s in finals)  # meaning was read
    finally:
        pipeline.close()
