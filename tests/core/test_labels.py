"""Who and where a call is (console/core/labels.py): custom parameters first, then the
agent endpoints by the configured rules, then the agent's own leg."""

from __future__ import annotations

from console.core.labels import LABEL_LIMIT, agent_endpoint, stream_labels
from console.core.roles import RoleRules


def test_stream_labels_read_the_spellings_dial_plans_use() -> None:
    assert stream_labels({"agent_name": "Ana Silva", "Team": "Retention",
                          "queue_name": "billing"}) == {
        "agent": "Ana Silva", "team": "Retention", "queue": "billing"}
    # The best spelling wins over the order the platform sent them in.
    assert stream_labels({"agentId": "a-17", "agent_name": "Ana"})["agent"] == "Ana"
    assert stream_labels({"Agent-Name": " Bo \t Li ", "skill": "sales"}) == {
        "agent": "Bo Li", "team": "", "queue": "sales"}
    assert stream_labels({"leg": "agent"}) == {"agent": "", "team": "", "queue": ""}
    assert stream_labels({"agent": 7, 3: "x"})["agent"] == ""  # not text: ignored
    assert len(stream_labels({"agent": "x" * 5000})["agent"]) == LABEL_LIMIT


def test_the_window_model_still_exports_them() -> None:
    import console.core.labels as core
    import console.ui.model as model

    assert model.stream_labels is core.stream_labels
    assert model.LABEL_KEYS is core.LABEL_KEYS and model.LABEL_LIMIT == core.LABEL_LIMIT
    assert "stream_labels" in model.__all__


def test_agent_endpoint_from_rules_then_the_agent_leg() -> None:
    rules = RoleRules.from_patterns(["sip:*@agents.example.com", "+1800555019*"])
    # A configured agent endpoint names the agent, `to` before `from`, on any leg.
    assert agent_endpoint("+14155550100", "+18005550199", agent_leg=False,
                          rules=rules) == "+18005550199"
    assert agent_endpoint("SIP:Lee@agents.example.com", "+18005550199", agent_leg=False,
                          rules=rules) == "+18005550199"
    assert agent_endpoint("sip:lee@agents.example.com", "+18005550100", agent_leg=False,
                          rules=rules) == "sip:lee@agents.example.com"
    # No rule matches: on the customer's leg nobody is known...
    assert agent_endpoint("+14155550100", "+18005550100", agent_leg=False, rules=rules) == ""
    assert agent_endpoint("+14155550100", "+18005550100", agent_leg=False) == ""
    # ...on the agent's own leg the platform dialled the agent: its `to`.
    assert agent_endpoint("+18005550100", " sip:7001@pbx ", agent_leg=True) == "sip:7001@pbx"
    assert agent_endpoint("+18005550100", None, agent_leg=True) == ""
