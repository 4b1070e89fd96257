"""Demo calls name their agent, team and queue the way each platform carries custom
parameters (Telnyx custom_parameters, Twilio customParameters, Plivo extra_headers...), and
the console reads them back from the start frame."""

from __future__ import annotations

import random

import pytest

from console.core.events import Started
from console.core.labels import stream_labels
from console.protocol.detect import FrameDecoder
from console.sim.client import PLATFORMS
from console.sim.demo import demo_labels
from console.sim.dialogues import load_dialogues


def test_demo_labels_are_a_few_agents_over_two_teams_and_two_queues() -> None:
    labels = [demo_labels(d) for d in load_dialogues()]
    assert labels == [demo_labels(d) for d in load_dialogues()]  # deterministic
    agents = {x["agent"] for x in labels}
    assert len(agents) == len(labels) >= 4
    assert {x["team"] for x in labels} == {"Retention", "Care"}
    assert {x["queue"] for x in labels} == {"Billing", "Support"}
    for d, x in zip(load_dialogues(), labels, strict=True):
        assert x["agent"].startswith(d.agent_name)  # the name the agent says on the call


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_each_platform_carries_them_in_its_start_frame(name: str) -> None:
    dialogue = load_dialogues()[0]
    labels = demo_labels(dialogue)
    platform = PLATFORMS[name]
    wire = platform.wire_for("", 0, "big")
    leg = platform(platform.new_call_key(random.Random(1)), "customer", ("inbound",), wire,
                   (dialogue.from_number, dialogue.to_number), labels, random.Random(2))
    decoder = FrameDecoder()
    started = [ev for frame in leg.start_frames()
               if isinstance(ev := decoder.decode(frame), Started)]
    assert len(started) == 1
    assert stream_labels(started[0].custom_parameters) == labels
