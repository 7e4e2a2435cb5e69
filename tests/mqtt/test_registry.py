"""The topic registry: templates render and match back, identities are whole levels."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.mqtt import payloads, schema_docs
from gateway.mqtt.topics import (
    PREFIX,
    TOPICS,
    Direction,
    Match,
    Topic,
    TopicError,
    acl_patterns,
    match,
    subscription,
    topic_for,
)

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"site": "sejong-6", "node": "gate-6-01", "list": "civil-servants"}


def sample(topic: Topic) -> dict[str, str]:
    return {p: VALUES[p] for p in topic.params}


@pytest.mark.parametrize("name", list(TOPICS))
def test_every_template_renders_and_matches_back(name: str) -> None:
    topic = TOPICS[name]
    rendered = topic_for(name, **sample(topic))
    assert "{" not in rendered
    assert "+" not in rendered
    assert match(rendered) == Match(name, sample(topic))


@pytest.mark.parametrize("name", list(TOPICS))
def test_every_topic_is_under_the_prefix_with_whole_identity_levels(name: str) -> None:
    topic = TOPICS[name]
    assert topic.levels[: len(PREFIX)] == PREFIX
    for level in topic.levels:
        assert level.startswith("{") == level.endswith("}")
        assert "{" not in level[1:-1]
    assert "site" in topic.params
    assert topic.qos in (0, 1)


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "a+", "x#", "/", "Upper", "a b"])
@pytest.mark.parametrize("param", ["site", "node"])
def test_identity_levels_refuse_wildcards_separators_and_empty(param: str, bad: str) -> None:
    values = dict(VALUES, **{param: bad})
    with pytest.raises(TopicError):
        topic_for("events", site=values["site"], node=values["node"])
    with pytest.raises(TopicError):
        subscription("events", **{param: bad})


def test_missing_and_unknown_parameters_and_names_are_refused() -> None:
    with pytest.raises(TopicError, match="needs node"):
        topic_for("events", site="s")
    with pytest.raises(TopicError, match="no parameter"):
        topic_for("policy", site="s", node="n")
    with pytest.raises(TopicError, match="no topic"):
        topic_for("nope", site="s")


def test_subscription_wildcards_omitted_identities() -> None:
    assert subscription("events") == "gateway/+/node/+/events"
    assert subscription("events", site="s1") == "gateway/s1/node/+/events"
    assert subscription("commands", site="s1", node="n1") == topic_for(
        "commands", site="s1", node="n1"
    )
    assert subscription("status_list", site="s1") == "gateway/s1/status-list/+"


def test_match_refuses_unknown_and_malformed_topics() -> None:
    assert match("gateway/s1/node/n1/unknown") is None
    assert match("other/s1/policy") is None
    assert match("gateway/s1/policy/extra") is None
    assert match("gateway//policy") is None
    assert match("gateway/S1/policy") is None


def _can_overlap(a: Topic, b: Topic) -> bool:
    if len(a.levels) != len(b.levels):
        return False
    return all(
        x == y or x.startswith("{") or y.startswith("{")
        for x, y in zip(a.levels, b.levels, strict=True)
    )


def test_no_two_topics_collide() -> None:
    for a, b in itertools.combinations(TOPICS.values(), 2):
        assert not _can_overlap(a, b), (a.template, b.template)
    assert len({t.template for t in TOPICS.values()}) == len(TOPICS)


def test_registry_policy_facts() -> None:
    events, availability, commands = TOPICS["events"], TOPICS["availability"], TOPICS["commands"]
    assert (events.qos, events.retain, events.direction) == (1, False, Direction.NODE_TO_CENTRE)
    assert (availability.retain, availability.qos) == (True, 1)
    assert (commands.retain, commands.qos, commands.direction) == (
        False,
        1,
        Direction.CENTRE_TO_NODE,
    )
    for name in ("status_list", "policy", "posture", "trust_anchors"):
        assert TOPICS[name].retain, name
    for t in TOPICS.values():
        assert t.description
        assert "\n" not in t.description


@pytest.mark.parametrize("name", list(TOPICS))
def test_every_topic_has_a_schema_file(name: str) -> None:
    path = ROOT / "docs" / "schemas" / f"{name}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["x-topic"] == TOPICS[name].template
    assert f"schemas/{name}.json" in (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")


def test_committed_docs_are_what_the_generator_produces() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in schema_docs.outputs().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "regenerate with: python -m gateway.mqtt.schema_docs"
    generated = {p.name for p in schema_docs.outputs() if p.suffix == ".json"}
    committed = {p.name for p in (ROOT / "docs" / "schemas").glob("*.json")}
    assert committed == generated, "a schema file without a topic"


def test_the_deployed_acl_has_every_generated_node_pattern() -> None:
    acl = (ROOT / "deploy" / "mosquitto" / "acl").read_text(encoding="utf-8").splitlines()
    for line in acl_patterns("sejong-6"):
        assert line in acl
    # A node may write only under its own id, and never to another node's commands.
    for line in acl_patterns("sejong-6"):
        if line.startswith("pattern write"):
            assert "/node/%u/" in line


def test_posture_names_are_the_policy_postures() -> None:
    from typing import get_args

    from gateway.node.policy.document import Posture

    assert set(get_args(payloads.PostureName)) == {p.value for p in Posture}


def _event(seq: int, prev: str, h: str) -> dict[str, object]:
    return {"seq": seq, "at": "2026-11-23T01:00:00.000000Z", "kind": "decision",
            "payload": {"allow": True}, "prev_hash": prev, "hash": h, "sig": "e" * 128}  # fmt: skip


def test_event_batch_requires_consecutive_chained_events() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    good = {
        "site": "s",
        "node": "n",
        "events": [_event(1, payloads.GENESIS_HASH, a), _event(2, a, b)],
    }
    payloads.EventBatch.model_validate(good)
    with pytest.raises(ValidationError, match="does not follow"):
        payloads.EventBatch.model_validate(
            dict(good, events=[_event(1, "0" * 64, a), _event(3, a, b)])
        )
    with pytest.raises(ValidationError, match="does not chain"):
        payloads.EventBatch.model_validate(
            dict(good, events=[_event(1, "0" * 64, a), _event(2, c, b)])
        )
    with pytest.raises(ValidationError):
        payloads.EventBatch.model_validate(dict(good, events=[]))


def test_the_outbox_wire_form_is_what_the_schema_describes() -> None:
    """gateway.node.outbox builds the events; this schema documents them. Keep them one."""
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.node.outbox import GENESIS_HASH, Event, event_hash, verify_chain
    from gateway.node.outbox.chain import format_at

    key = Ed25519PrivateKey.generate()
    events, prev = [], GENESIS_HASH
    for seq in (1, 2, 3):
        at = format_at(dt.datetime(2026, 11, 23, 1, 0, seq, tzinfo=dt.UTC))
        payload = {"door": "b6-in", "allow": seq != 2}
        h = event_hash(seq, at, "decision", payload, prev)
        sig = key.sign(bytes.fromhex(h)).hex()
        events.append(Event(seq, at, "decision", payload, prev, h, sig))
        prev = h
    assert payloads.GENESIS_HASH == GENESIS_HASH
    batch = payloads.EventBatch.model_validate(
        {"site": "s", "node": "n", "events": [e.to_wire() for e in events]}
    )
    back = [Event.from_wire(e.model_dump()) for e in batch.events]
    assert back == events
    verify_chain(back, key.public_key())


def test_command_is_discriminated_and_bounded() -> None:
    base = {"site": "s", "node": "n", "id": "A" * 22, "issued_at": "2026-11-23T01:00:00Z",
            "expires_at": "2026-11-23T01:01:00Z"}  # fmt: skip
    cmd = payloads.Command.model_validate(
        dict(base, do={"action": "unlock", "door": "d1", "seconds": 5})
    )
    assert isinstance(cmd.do, payloads.Unlock)
    with pytest.raises(ValidationError):
        payloads.Command.model_validate(
            dict(base, do={"action": "unlock", "door": "d1", "seconds": 0})
        )
    with pytest.raises(ValidationError):
        payloads.Command.model_validate(dict(base, do={"action": "explode"}))
    with pytest.raises(ValidationError):
        payloads.Command.model_validate(
            dict(base, id="short", do={"action": "relock", "door": "d"})
        )


def test_availability_is_a_bare_word() -> None:
    assert payloads.Availability.model_validate("offline").root == "offline"
    with pytest.raises(ValidationError):
        payloads.Availability.model_validate("gone")
