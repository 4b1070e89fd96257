"""Alert acknowledgements and snoozes in a team: what one supervisor does with an alert
reaches every other console over the bus, with the supervisor's name, and lands in each
console's copy of the team's store. Real nats-server, a real node process, two consoles."""

from __future__ import annotations

import time
from pathlib import Path

from team_support import two_consoles, wait_until

from console.core.events import AlertRaised, Role, SupervisorAction
from console.store.alert_audit import ACK, SNOOZE, ack_detail, snooze_detail
from console.store.db import connect as db_connect
from console.store.db import db_path
from console.team.busserver import BusServer
from console.team.console import TeamEngine
from console.ui.alert_book import AlertBook


def test_team_alert_actions_reach_every_console(bus: BusServer, tmp_path: Path) -> None:
    with two_consoles(bus.url(), tmp_path, "call-alerts") as (ana, bob, heard, _ws):
        alert = AlertRaised("call-alerts", "cancellation", Role.CUSTOMER, 20.59,
                            "cancel my account", "critical")
        until = time.time() + 900
        # Ana's window publishes these on its engine's bus (MainWindow._audit).
        ana.bus.publish(SupervisorAction("call-alerts", ACK, time.time(),
                                         ack_detail("cancellation", 20.59, alert.text)))
        ana.bus.publish(SupervisorAction("call-alerts", SNOOZE, time.time(),
                                         snooze_detail("escalation", until, "15 minutes")))

        def actions() -> list[SupervisorAction]:
            return [e for e in list(heard) if isinstance(e, SupervisorAction)
                    and e.action.startswith("alert_")]

        wait_until(lambda: len(actions()) == 2)
        assert [(a.action, a.supervisor) for a in actions()] == [(ACK, "Ana"),
                                                                 (SNOOZE, "Ana")]
        book = AlertBook()  # Bob's feed folds what his bus gave him
        book.take(list(heard), {})
        entry = book.add(alert, "call-alerts", 0.0, time.time())
        assert entry is not None and (entry.state, entry.by) == ("acknowledged", "Ana")
        snoozed = book.add(AlertRaised("call-alerts", "escalation", Role.CUSTOMER, 30.0,
                                       "your manager"), "call-alerts", 0.0, time.time())
        assert snoozed is not None and snoozed.state == "snoozed"
        assert book.team_snoozes["escalation"].by == "Ana"
        assert abs(book.team_snoozes["escalation"].until - until) < 1.0

        # Each console's copy of the team's store keeps them in the call's audit trail.
        def stored(engine: TeamEngine) -> list[tuple[str, str]]:
            path = db_path(engine.data_dir)
            if not path.exists():
                return []
            conn = db_connect(path, readonly=True)
            try:
                return [(r["action"], r["supervisor"]) for r in conn.execute(
                    "SELECT action, supervisor FROM audit WHERE call_id = 'call-alerts' "
                    "AND action LIKE 'alert_%' ORDER BY id")]
            finally:
                conn.close()

        for engine in (ana, bob):
            wait_until(lambda e=engine: stored(e) == [(ACK, "Ana"), (SNOOZE, "Ana")])
