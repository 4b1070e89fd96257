"""The Agents tab in the real window (offscreen Qt, a real engine): the empty state, rows
from a store filled by real events, sorting, a refresh that keeps the selection and the
sort, and the jump from an agent to their live call on the wall."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt
from ui_helpers import play

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from agent_day import call, item, write

from console.store.agents import agents_today, local_midnight
from console.store.db import connect, db_path
from console.ui.agents_view import COLUMNS
from console.ui.theme import palette


def _cells(view) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The table as shown (sorted), a dict per row."""
    m = view.table.model()
    return [{c: m.index(r, i).data() for i, c in enumerate(COLUMNS)}
            for r in range(m.rowCount())]


def _open(console, qtbot):  # type: ignore[no-untyped-def]
    w = console.window
    view = w.agents
    view.timer.setInterval(200)  # the window's is 4 s
    assert w.tabs.tabText(1) == "Agents" and w.tabs.widget(1) is view  # after Live calls
    w.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.refreshed > 0, timeout=5000)
    return view


def test_rows_sorting_and_a_refresh_that_keeps_them(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _open(console, qtbot)
    assert view.pages.currentIndex() == 0 and view.empty.isVisible()
    assert "No calls today yet" in view.empty.findChildren(type(view.status))[0].text()

    # Calls stored by a store writer while the window runs, as a team's copy fills.
    t = max(local_midnight() + 1, time.time() - 900)
    ana = {"agent_name": "Ana Silva", "team": "Retention"}
    write(Path(console.settings.data_path()), [
        *call("a1", t, ended=t + 300, params=ana, talk=(60, 20), moods=(-0.6, -0.4),
              alerts=[("cancellation", "critical"), ("escalation", "warning")],
              items=[item("greeting", True), item("empathy", False, 3.0)]),
        *call("a2", t + 400, ended=t + 500, params=ana, talk=(10, 30), moods=(-0.5,)),
        *call("b1", t + 10, ended=t + 130, params={"agent": "Bo Li", "team": "Care"},
              moods=(0.8,), items=[item("greeting", True)]),
        *call("u1", t + 20, ended=t + 80),
    ])
    qtbot.waitUntil(lambda: len(view.rows) == 3, timeout=5000)
    assert view.pages.currentIndex() == 1
    rows = _cells(view)
    assert [r["Agent"] for r in rows] == ["Ana Silva", "Bo Li", "Unassigned"]
    assert rows[0] == {"Agent": "Ana Silva", "Team": "Retention", "Calls (live)": "2",
                       "Handle time": "6:40", "Agent talk share": "42 %",
                       "Customer mood": "-0.50 negative", "Alerts (critical)": "2 (1 critical)",
                       "Scorecard avg": "25 %"}
    assert rows[1]["Scorecard avg"] == "100 %" and rows[1]["Customer mood"] == "+0.80 positive"
    assert rows[2]["Scorecard avg"] == "—" and rows[2]["Agent talk share"] == "—"
    m = view.table.model()
    assert m.index(0, COLUMNS.index("Alerts (critical)")).data(
        Qt.ItemDataRole.ForegroundRole).name() == palette().danger
    assert m.index(0, COLUMNS.index("Customer mood")).data(
        Qt.ItemDataRole.BackgroundRole) is not None  # the mood cell is tinted
    assert "AGENT" in m.headerData(COLUMNS.index("Agent talk share"), Qt.Orientation.Horizontal,
                                   Qt.ItemDataRole.ToolTipRole)

    view.table.sortByColumn(COLUMNS.index("Customer mood"), Qt.SortOrder.DescendingOrder)
    assert [r["Agent"] for r in _cells(view)] == ["Bo Li", "Ana Silva", "Unassigned"]
    view.table.sortByColumn(COLUMNS.index("Calls (live)"), Qt.SortOrder.DescendingOrder)
    assert _cells(view)[0]["Agent"] == "Ana Silva"

    assert view.select("Bo Li")
    assert not view.jump_button.isEnabled()
    assert "no live call" in view.jump_button.toolTip()
    seen = view.refreshed
    qtbot.waitUntil(lambda: view.refreshed >= seen + 2, timeout=5000)
    assert view.selected() is not None and view.selected().agent == "Bo Li"
    header = view.table.horizontalHeader()
    assert header.sortIndicatorSection() == COLUMNS.index("Calls (live)")
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert _cells(view)[0]["Agent"] == "Ana Silva"

    # Hidden, it stops reading.
    console.window.tabs.setCurrentWidget(console.window.history)
    assert not view.timer.isActive()


def test_jump_to_the_agents_live_call(console, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = console.window
    plans, done = play(console, calls=1, seconds=4, seed=61, dialogue="angry-double-charge",
                       params={"agent": "Cleo Park", "team": "Care", "queue": "billing"})
    call_id = plans[0].call_key
    qtbot.waitUntil(lambda: call_id in w.wall.tiles, timeout=15000)
    view = _open(console, qtbot)

    def cleo():  # type: ignore[no-untyped-def]
        return next((r for r in view.rows if r.agent == "Cleo Park"), None)

    # The wall has it at once (the store a moment later): listed live for its agent.
    qtbot.waitUntil(lambda: cleo() is not None and cleo().live_call_ids == (call_id,),
                    timeout=5000)

    def stored() -> list[str]:
        conn = connect(db_path(console.settings.data_path()), readonly=True)
        try:
            return [i for r in agents_today(conn, local_midnight()) for i in r.live_call_ids]
        finally:
            conn.close()

    # Once the store has it too, it still counts once.
    qtbot.waitUntil(lambda: stored() == [call_id], timeout=5000)
    seen = view.refreshed
    qtbot.waitUntil(lambda: view.refreshed >= seen + 2, timeout=5000)
    assert cleo().team == "Care" and cleo().calls == 1 and cleo().live_call_ids == (call_id,)
    row = next(r for r in _cells(view) if r["Agent"] == "Cleo Park")
    assert row["Calls (live)"] == "1 (1 live)"
    assert view.select("Cleo Park") and view.jump_button.isEnabled()
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert w.tabs.currentWidget() is w.live
    assert w.wall.selected == call_id
    assert w.view.call is not None and w.view.call.id == call_id
    done.result(30)


def test_live_calls_follow_the_wall() -> None:
    """The store's live calls as the wall has them: one the wall dropped is not offered, one
    the store has not got yet counts for its agent at once."""
    from console.store.agents import AgentDay
    from console.ui.agents_view import with_wall
    from console.ui.model import CallInfo

    def row(agent: str, live: tuple[str, ...], calls: int = 3) -> AgentDay:
        return AgentDay(agent, "Care", calls, live, 600.0, 10.0, 20.0, 0.1, 2, 1, 0, 80.0, 2)

    def on_wall(call_id: str, agent: str, started: float) -> CallInfo:
        return CallInfo(call_id, "telnyx", None, None, started, agent=agent, team="Care")

    wall = [on_wall("a2", "Ana", 900.0), on_wall("a3", "Ana", 950.0),
            on_wall("c1", "Cy", 990.0), on_wall("x", "", 995.0)]
    ended = on_wall("a9", "Ana", 100.0)
    ended.state = "ended"
    rows = with_wall([row("Ana", ("a2", "a1")), row("Bo", ()), row("", (), 1)],
                     [*wall, ended], now=1000.0)
    ana, bo, cy, nobody = rows
    assert ana.live_call_ids == ("a3", "a2")  # a1 left the wall; a3 is not stored yet
    assert ana.calls == 4 and ana.handle_s == 650.0 and ana.score_avg == 80.0
    assert bo.live_call_ids == () and bo.calls == 3
    assert (cy.agent, cy.team, cy.calls, cy.live_call_ids, cy.handle_s) == (
        "Cy", "Care", 1, ("c1",), 10.0)
    assert cy.customer_mood is None and cy.score_avg is None
    assert nobody.agent == "" and nobody.calls == 2 and nobody.live_call_ids == ("x",)
