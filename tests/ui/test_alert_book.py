"""The alert feed's state (console.ui.alert_book) as every console folds it from the bus:
alerts once each, acknowledgements and snoozes applied once, whatever order they come in, and
a peer's fields checked before anything is believed."""

from __future__ import annotations

import time

from console.core.events import AlertRaised, Role, SupervisorAction
from console.store.alert_audit import (
    ACK,
    LIFT,
    SNOOZE,
    ack_detail,
    iso_utc,
    lift_detail,
    parse_detail,
    snooze_detail,
)
from console.ui.alert_book import MAX_SNOOZE_S, AlertBook


def _alert(call: str, rule: str, at_s: float, severity: str = "warning") -> AlertRaised:
    return AlertRaised(call, rule, Role.CUSTOMER, at_s, f"words of {rule}", severity)


def _act(call: str, action: str, detail: str, who: str = "Ana", at: float = 0.0
         ) -> SupervisorAction:
    return SupervisorAction(call, action, at or time.time(), detail, who)


def test_feed_book_keeps_each_alert_once_newest_first() -> None:
    book = AlertBook(max_entries=3)
    now = time.time()
    titles = {"c1": ("Maria · +1555", now - 60)}
    added, _ = book.take([_alert("c1", "escalation", 10.0), _alert("c1", "escalation", 10.0),
                          _alert("c2", "profanity", 3.0)], titles, now)
    assert [e.key for e in added] == ["c1|escalation|10.00", "c2|profanity|3.00"]
    assert added[0].title == "Maria · +1555" and added[0].at == now - 50  # start + at_s
    assert added[1].title == "c2" and added[1].at == now  # an unknown call: when it came
    book.take([_alert("c1", "overtalk", 20.0), _alert("c1", "long_silence", 30.0)], {}, now)
    assert [e.alert.rule for e in book.newest_first()] == ["long_silence", "overtalk",
                                                            "profanity"]  # bounded


def test_feed_book_acknowledgement_before_its_alert_and_twice() -> None:
    book = AlertBook()
    alert = _alert("c1", "cancellation", 20.59, "critical")
    # A late-joining console may hear the acknowledgement first.
    assert book.apply(_act("c1", ACK, ack_detail("cancellation", 20.59, "cancel")),
                      time.time()) == []
    entry = book.add(alert, "c1", 0.0, time.time())
    assert entry is not None and entry.state == "acknowledged" and entry.by == "Ana"
    again = book.apply(_act("c1", ACK, ack_detail("cancellation", 20.59, "cancel"), "Bo"),
                       time.time())
    assert again == [] and entry.by == "Ana"


def test_feed_book_snoozes_for_a_call_and_for_everyone_until_they_end() -> None:
    book = AlertBook()
    now = time.time()
    book.take([_alert("c1", "escalation", 5.0), _alert("c2", "escalation", 6.0)], {}, now)
    changed = book.apply(_act("c1", SNOOZE, snooze_detail("escalation", None)), now)
    assert [e.key for e in changed] == ["c1|escalation|5.00"]
    later, _ = book.take([_alert("c1", "escalation", 50.0), _alert("c2", "escalation", 60.0)],
                         {}, now)
    assert [e.state for e in later] == ["snoozed", "new"]  # the other call still tells
    book.apply(_act("c1", LIFT, lift_detail("escalation", everyone=False)), now)
    assert book.add(_alert("c1", "escalation", 90.0), "c1", 0, now).state == "new"  # type: ignore[union-attr]

    until = now + 900
    changed = book.apply(_act("c3", SNOOZE, snooze_detail("escalation", until, "15 min")), now)
    assert {e.alert.call_id for e in changed} == {"c2", "c1"}  # the new ones on every call
    assert book.add(_alert("c9", "escalation", 1.0), "c9", 0, now).state == "snoozed"  # type: ignore[union-attr]
    assert book.add(_alert("c9", "profanity", 1.0), "c9", 0, now).state == "new"  # type: ignore[union-attr]
    assert book.expire(now + 899) == []
    assert [s.rule for s in book.expire(until)] == ["escalation"]
    assert book.add(_alert("c9", "escalation", 99.0), "c9", 0, until).state == "new"  # type: ignore[union-attr]
    # The same snooze heard again after it ended (a replay) does not come back.
    book.apply(_act("c3", SNOOZE, snooze_detail("escalation", until, "15 min")), until + 1)
    assert "escalation" not in book.team_snoozes


def test_feed_book_refuses_what_a_peer_cannot_mean() -> None:
    book = AlertBook()
    now = time.time()
    book.add(_alert("c1", "escalation", 5.0), "c1", 0, now)
    bad = [
        _act("c1", SNOOZE, snooze_detail("escalation", now + MAX_SNOOZE_S + 3600)),  # a week
        _act("c1", SNOOZE, "rule=escalation scope=everyone until=tomorrow"),
        _act("c1", SNOOZE, "rule=escalation scope=galaxy"),
        _act("c1", ACK, "rule=escalation at_s=nan"),
        _act("c1", ACK, "rule=escalation at_s=-5"),
        _act("c1", ACK, "rule=" + "x" * 80 + " at_s=5.00"),
    ]
    for action in bad:
        assert book.apply(action, now) == []
    assert book.refused == len(bad)
    assert not book.team_snoozes and book.count("new") == 1
    assert book.apply(_act("c1", "listen_start", "rule=escalation at_s=5.00"), now) == []


def test_alert_audit_details_read_back() -> None:
    assert parse_detail(ack_detail("my rule", 3.456, "a · b")) == {"rule": "my rule",
                                                                  "at_s": "3.46"}
    until = 1_800_000_000.0
    fields = parse_detail(snooze_detail("overtalk", until, "1 hour"))
    assert fields == {"rule": "overtalk", "scope": "everyone", "until": iso_utc(until)}
    assert snooze_detail("overtalk", until, "1 hour").endswith("· 1 hour")
