"""The wall through the real window (offscreen Qt, a real engine and simulated calls): the
risk chip and its reasons, sorting by risk with tiles that hold still and pins that stay, and
the filters and quick search of the bar above the wall."""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import Qt
from ui_helpers import play

from console.core.events import AlertRaised, CallTopic, Role, SentimentSample, TranscriptSegment

CALLS = (("angry-double-charge", {"agent_name": "Ana Silva", "team": "Retention",
                                  "queue_name": "billing"}),
         ("billing-question-positive", {"agentId": "bo.li", "Team": "Care",
                                        "queue": "billing"}),
         ("card-replacement-dtmf", {"agent": "Cy Moss", "team": "Care", "QUEUE": "cards"}))


def play_three(console, qtbot, seconds: float):  # type: ignore[no-untyped-def]
    """Three calls, one after the other, each with its own agent, team and queue."""
    w = console.window
    ids, futures = [], []
    for i, (dialogue, params) in enumerate(CALLS):
        plans, done = play(console, calls=1, seconds=seconds, seed=40 + i, dialogue=dialogue,
                           params=params)
        ids.append(plans[0].call_key)
        futures.append(done)
        qtbot.waitUntil(lambda n=i + 1: len(w.wall.tiles) == n, timeout=15000)
    qtbot.waitUntil(lambda: all(w.model.calls[c].agent for c in ids), timeout=6000)
    return ids, futures


def test_wall_bar_filters_and_searches_live_calls(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    bar, wall, bus = w.wall_bar, w.wall, console.engine.bus
    assert not bar.isVisible()  # nothing to sort or filter yet
    (c1, c2, c3), futures = play_three(console, qtbot, seconds=12)
    assert bar.isVisible() and bar.count.text() == "3 calls"
    assert [w.model.calls[c].agent for c in (c1, c2, c3)] == ["Ana Silva", "bo.li", "Cy Moss"]
    assert (w.model.calls[c2].team, w.model.calls[c3].queue) == ("Care", "cards")
    assert wall.order == [c1, c2, c3]
    assert "agent Ana Silva" in wall.tiles[c1].subtitle.text()
    assert wall.tiles[c1].subtitle.toolTip() == \
        "agent Ana Silva  ·  team Retention  ·  queue billing"

    def shown() -> list[str]:
        return [c for c in wall.order if wall.tiles[c].isVisible()]

    bar.choose("agent", "Ana Silva")
    assert wall.order == [c1] and shown() == [c1]
    assert not wall.tiles[c2].isVisible() and not wall.tiles[c3].isVisible()
    assert bar.count.text() == "1 of 3 calls" and bar.filter_button.text() == "Filter (1)"
    assert [a.text() for a in bar.menus["agent"].actions()] == ["Any", "Ana Silva", "bo.li",
                                                                "Cy Moss"]
    bar.choose("agent", "")
    bar.choose("team", "Care")
    assert shown() == [c2, c3]
    # Keys 1-9 and the arrows follow what is shown.
    w.activateWindow()
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_1)
    assert wall.selected == c2 and wall.tiles[c2].index_label.text() == "1"
    qtbot.keyClick(wall, Qt.Key.Key_Right)
    assert wall.selected == c3
    bar.choose("queue", "cards")
    assert shown() == [c3] and bar.filter_button.text() == "Filter (2)"
    bar.clear_action.trigger()
    assert shown() == [c1, c2, c3] and bar.filter_button.text() == "Filter"

    bus.publish(CallTopic(c2, "account_change", 0.8, 2.0))
    qtbot.waitUntil(lambda: w.model.calls[c2].topic == "account_change", timeout=6000)
    bar.choose("topic", "account_change")
    assert shown() == [c2]
    assert [a.text() for a in bar.menus["topic"].actions()] == ["Any", "Account change"]
    bar.clear_action.trigger()

    # Alerts only: the wall follows an alert as it comes.
    qtbot.mouseClick(bar.alerts_only, Qt.MouseButton.LeftButton)
    assert shown() == [] and bar.count.text() == "0 of 3 calls"
    bus.publish(AlertRaised(c3, "escalation", Role.CUSTOMER, 3.0, "your manager", "warning"))
    qtbot.waitUntil(lambda: shown() == [c3], timeout=4000)
    qtbot.mouseClick(bar.alerts_only, Qt.MouseButton.LeftButton)
    assert shown() == [c1, c2, c3]

    # Quick search, as one types: a number, an agent, words said.
    bar.search.setFocus()
    qtbot.keyClicks(bar.search, "555 0129")
    assert bar.search.text() == "555 0129"  # the digits went to the field, not to the keys
    assert shown() == [c3]
    assert wall.selected == c3  # the selection moves to a call one can see
    bar.search.clear()
    assert shown() == [c1, c2, c3]
    qtbot.keyClicks(bar.search, "BO.L")
    assert shown() == [c2]
    bar.search.clear()
    qtbot.keyClicks(bar.search, "ombudsman")
    assert shown() == []
    bus.publish(TranscriptSegment(c1, "s9", Role.CUSTOMER, 4.0, 5.0,
                                  "I will take this to the Ombudsman", True))
    qtbot.waitUntil(lambda: shown() == [c1], timeout=4000)  # words said since typing
    bar.search.clear()
    assert shown() == [c1, c2, c3] and bar.count.text() == "3 calls"
    for done in futures:
        done.result(timeout=20)


def test_wall_sorts_by_risk_holding_tiles_and_pins(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    bar, wall, bus = w.wall_bar, w.wall, console.engine.bus
    # The hold and the window's slow tick, both shorter than by default (5 s, 1 s) to keep
    # the test short; their ratio is what the test is about.
    wall.resort_s = 1.0
    w.slow.setInterval(250)
    (c1, c2, c3), futures = play_three(console, qtbot, seconds=16)
    at = [3.0]

    def feel(call_id: str, score: float) -> None:
        at[0] += 0.5
        bus.publish(SentimentSample(call_id, Role.CUSTOMER, at[0], score, 0.9))

    # A legal threat and an upset customer on the last call: the chip says so.
    bus.publish(AlertRaised(c3, "legal_threat", Role.CUSTOMER, 3.0, "my solicitor",
                            "critical"))
    feel(c3, -0.8)
    tile = wall.tiles[c3]
    qtbot.waitUntil(lambda: "legal threat" in tile.risk_why.text(), timeout=6000)
    assert "customer very upset" in tile.risk_why.text()
    assert tile.risk.score >= 60 and tile.risk_chip.text() == f"Risk {tile.risk.score}"
    assert tile.risk_chip.property("badge") == "critical"
    assert "legal threat" in tile.risk_chip.toolTip()
    assert wall.tiles[c1].risk_chip.text() == "Risk 0"
    assert wall.tiles[c1].risk_chip.property("badge") == "info"
    qtbot.wait(700)
    assert wall.order == [c1, c2, c3]  # sorted by start time until asked

    qtbot.mouseClick(bar.sort_buttons["risk"], Qt.MouseButton.LeftButton)
    assert wall.sort == "risk" and wall.order[0] == c3
    w.activateWindow()
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_1)
    assert wall.selected == c3

    # c1 and c2 trade places in risk after every tick, so the wall would swap them at
    # each one: each tile still moves at most once per hold.
    moves: dict[str, list[float]] = {c: [] for c in (c1, c2, c3)}
    flips = [0]

    def flip() -> None:
        upset, calm = (c1, c2) if flips[0] % 2 == 0 else (c2, c1)
        feel(upset, -0.9)
        feel(calm, 0.6)
        flips[0] += 1

    last = list(wall.order)

    def moved() -> None:  # on the UI thread, as the wall lays the tiles out again
        for c in moves:
            if wall.order.index(c) != last.index(c):
                moves[c].append(time.monotonic())
        last[:] = wall.order

    wall.orderChanged.connect(moved)
    w.slow.timeout.connect(flip)  # after the window's own tick: the next one sees it
    qtbot.wait(3600)
    w.slow.timeout.disconnect(flip)
    wall.orderChanged.disconnect(moved)
    assert len(moves[c1]) >= 2, moves  # it did move, more than once...
    for c, times in moves.items():  # ...but never twice within the hold
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g >= wall.resort_s - 0.05 for g in gaps), (c, gaps)
    assert wall.order[0] == c3  # never passed by calls it outranks

    # Pin the last call where it is (from its context menu), then make it the riskiest:
    # it stays, and the others flow around it.
    feel(c1, 0.6)
    feel(c2, 0.6)
    qtbot.waitUntil(lambda: wall.order[0] == c3 and not wall.tiles[c1].risk.score
                    and not wall.tiles[c2].risk.score, timeout=6000)
    pinned, other = wall.order[2], wall.order[1]
    menu = wall.tiles[pinned].context_menu()
    assert [a.text() for a in menu.actions()] == ["Pin in place"]
    menu.actions()[0].trigger()
    assert wall.tiles[pinned].pin_label.isVisible() and pinned in wall.pinned
    for call_id in (pinned, other):
        for rule in ("cancellation", "legal_threat"):
            bus.publish(AlertRaised(call_id, rule, Role.CUSTOMER, 6.0, "words", "critical"))
        feel(call_id, -0.9)
    qtbot.waitUntil(lambda: wall.order[0] == other, timeout=6000)  # it passed c3...
    assert wall.tiles[pinned].risk.score > wall.tiles[c3].risk.score + wall.gap
    assert wall.order == [other, c3, pinned]  # ...the pinned call, riskier still, did not
    qtbot.wait(1500)
    assert wall.order == [other, c3, pinned]

    # P unpins the selected call; the next re-sort puts it where its risk says.
    qtbot.mouseClick(wall.tiles[pinned], Qt.MouseButton.LeftButton)
    assert wall.selected == pinned
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_P)
    assert pinned not in wall.pinned and not wall.tiles[pinned].pin_label.isVisible()
    qtbot.waitUntil(lambda: wall.order[1:] in ([pinned, c3], [other, c3])
                    and wall.order[0] in (other, pinned), timeout=6000)
    if wall.order[0] == pinned:  # (their sentiment histories differ by the flips above)
        assert wall.tiles[pinned].risk.score > wall.tiles[other].risk.score + wall.gap

    qtbot.mouseClick(bar.sort_buttons["start"], Qt.MouseButton.LeftButton)
    assert wall.order == [c1, c2, c3]
    for done in futures:
        done.result(timeout=30)
