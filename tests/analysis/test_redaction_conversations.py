"""Every labelled conversation in tests/data/redaction (see its README) comes out of
`CallRedactor` exactly as labelled once its corrections are applied; items the rules are
known to get wrong say why, and are expected to fail (strictly: a fix must update the label
file). bench/redaction.py gives the precision and recall on the same set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.analysis.redaction import CallRedactor

DATA = Path(__file__).resolve().parents[1] / "data" / "redaction" / "conversations.json"
ITEMS: list[dict[str, Any]] = json.loads(DATA.read_text())["items"]


def _params() -> list[Any]:
    out = []
    for item in ITEMS:
        marks = ([pytest.mark.xfail(strict=True, reason=item["known_failure"])]
                 if "known_failure" in item else [])
        out.append(pytest.param(item, id=item["id"], marks=marks))
    return out


def test_the_set_covers_what_it_should() -> None:
    assert len(ITEMS) >= 60 and len({i["id"] for i in ITEMS}) == len(ITEMS)
    kinds = {s.get("kind") for i in ITEMS for s in i["segments"]}
    assert {"card", "last4", "expiry", "cvv", "ssn", "pin", "account", "phone"} <= kinds
    negatives = {i.get("negative") for i in ITEMS}
    assert {"amount", "time", "date", "year", "count", "address", "label"} <= negatives
    assert sum(len(i["segments"]) > 1 for i in ITEMS) >= 60
    assert sum("known_failure" in i for i in ITEMS) <= 5


@pytest.mark.parametrize("item", _params())
def test_labelled_conversation(item: dict[str, Any]) -> None:
    segs = item["segments"]
    red = CallRedactor()
    final: dict[int, str] = {}
    for i in item.get("order") or range(len(segs)):
        s = segs[i]
        r = red.push(str(i), s["who"], s["t"][0], s["t"][1], s["text"])
        if not r.pending:
            final[i] = r.text
        final.update({int(k): v for k, v in (*r.released.items(), *r.corrections.items())})
    final.update({int(k): v for k, v in red.flush().items()})
    got = [final[i] for i in range(len(segs))]
    assert got == [s.get("want", s["text"]) for s in segs]
