"""THE topic registry: every MQTT topic the gateway publishes or subscribes to.

A template is a sequence of levels under the prefix ``gateway/{site}``; a level
in braces is a parameter and always a *whole* level, so a Mosquitto ACL
``pattern`` (``%u``/``%c``) can pin a node to its own topics. Build topics with
:func:`topic_for`, subscriptions with :func:`subscription` (omitted parameters
become ``+``) and recognise incoming ones with :func:`match`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel

from gateway.mqtt import payloads as p

ROOT = "gateway"
PREFIX = (ROOT, "{site}")  # the prefix, built here and nowhere else
_IDENT = re.compile(p.IDENT_PATTERN)
_PARAM = re.compile(r"^\{([a-z_]+)\}$")

AVAILABILITY_ONLINE = b"online"
AVAILABILITY_OFFLINE = b"offline"


class TopicError(ValueError):
    """A bad parameter value or an unknown topic name."""


class Direction(StrEnum):
    NODE_TO_CENTRE = "node → centre"
    CENTRE_TO_NODE = "centre → node"


class Encoding(StrEnum):
    JSON = "json"
    TEXT = "text"
    COSE_SIGN1 = "cose_sign1"
    CWT = "cwt"


@dataclass(frozen=True)
class Topic:
    name: str
    levels: tuple[str, ...]  # the whole template, prefix included
    qos: int
    retain: bool
    direction: Direction
    payload: type[BaseModel]
    encoding: Encoding
    description: str

    @property
    def template(self) -> str:
        return "/".join(self.levels)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(m.group(1) for lv in self.levels if (m := _PARAM.match(lv)))


def _topic(
    name: str,
    tail: str,
    qos: int,
    retain: bool,
    direction: Direction,
    payload: type[BaseModel],
    encoding: Encoding,
    description: str,
) -> Topic:
    return Topic(
        name,
        PREFIX + tuple(tail.split("/")),
        qos,
        retain,
        direction,
        payload,
        encoding,
        description,
    )


_N2C, _C2N = Direction.NODE_TO_CENTRE, Direction.CENTRE_TO_NODE
_J, _T, _S, _CWT = Encoding.JSON, Encoding.TEXT, Encoding.COSE_SIGN1, Encoding.CWT

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        _topic(
            "events", "node/{node}/events", 1, False, _N2C, p.EventBatch, _J,
            "Outbox events in seq order, one or a signed batch; delivered once PUBACKed.",
        ),
        _topic(
            "availability", "node/{node}/availability", 1, True, _N2C, p.Availability, _T,
            "`online` on connect; `offline` as the Last Will and on clean shutdown.",
        ),
        _topic(
            "heartbeat", "node/{node}/heartbeat", 0, False, _N2C, p.Heartbeat, _J,
            "Periodic health: sync versions and ages, outbox depth, readers, doors, version.",
        ),
        _topic(
            "command_results", "node/{node}/command-results", 1, False, _N2C,
            p.CommandResult, _J,
            "What the node did with each command (also logged as an event).",
        ),
        _topic(
            "commands", "node/{node}/commands", 1, False, _C2N, p.Command, _S,
            "Signed operator commands (unlock N s, relock, resync); never retained.",
        ),
        _topic(
            "resend", "node/{node}/resend", 1, False, _C2N, p.ResendRequest, _J,
            "The collector asks for events again to fill a gap (signed events; deduplicated).",
        ),
        _topic(
            "status_list", "status-list/{list}", 1, True, _C2N, p.StatusListClaims, _CWT,
            "The current Status List Token (CWT) of one list.",
        ),
        _topic(
            "status_list_delta", "status-list/{list}/delta", 1, False, _C2N,
            p.StatusListDelta, _S,
            "Optional signed changes on top of the token, for sub-second revocation.",
        ),
        _topic(
            "policy", "policy", 1, True, _C2N, p.SignedPolicy, _S,
            "The signed site policy document (docs/policy.md).",
        ),
        _topic(
            "posture", "posture", 1, True, _C2N, p.PostureState, _S,
            "The signed emergency posture: site-wide, per building, fire drill.",
        ),
        _topic(
            "trust_anchors", "trust-anchors", 1, True, _C2N, p.TrustAnchors, _S,
            "The signed set of trusted roots and signers.",
        ),
    )
}  # fmt: skip


class Match(NamedTuple):
    name: str
    params: dict[str, str]


def check_level(param: str, value: str) -> str:
    """Return ``value`` if it can be a whole identity level; raise :class:`TopicError` if not."""
    if not value:
        raise TopicError(f"{param} must not be empty")
    for bad in ("+", "#", "/"):
        if bad in value:
            raise TopicError(f"{param} {value!r} must not contain {bad!r}")
    if not _IDENT.match(value):
        raise TopicError(f"{param} {value!r} must match {p.IDENT_PATTERN}")
    return value


def get(name: str) -> Topic:
    try:
        return TOPICS[name]
    except KeyError:
        raise TopicError(f"no topic {name!r} in the registry") from None


def _render(topic: Topic, values: dict[str, str | None], wildcard: bool) -> str:
    extra = set(values) - set(topic.params)
    if extra:
        raise TopicError(f"topic {topic.name!r} has no parameter {sorted(extra)}")
    out: list[str] = []
    for level in topic.levels:
        m = _PARAM.match(level)
        if m is None:
            out.append(level)
            continue
        value = values.get(m.group(1))
        if value is None:
            if not wildcard:
                raise TopicError(f"topic {topic.name!r} needs {m.group(1)}=")
            out.append("+")
        else:
            out.append(check_level(m.group(1), value))
    return "/".join(out)


def topic_for(name: str, **params: str) -> str:
    """The concrete topic to publish on, e.g. ``topic_for("events", site="s", node="n")``."""
    return _render(get(name), dict(params), wildcard=False)


def subscription(name: str, **params: str | None) -> str:
    """A subscription filter: given parameters are pinned, omitted ones become ``+``."""
    return _render(get(name), dict(params), wildcard=True)


def match(topic: str) -> Match | None:
    """Which registry topic ``topic`` is, with its parameters; ``None`` if none."""
    levels = topic.split("/")
    for t in TOPICS.values():
        if len(t.levels) != len(levels):
            continue
        params: dict[str, str] = {}
        for tmpl, got in zip(t.levels, levels, strict=True):
            m = _PARAM.match(tmpl)
            if m is None:
                if tmpl != got:
                    break
            else:
                try:
                    params[m.group(1)] = check_level(m.group(1), got)
                except TopicError:
                    break
        else:
            return Match(t.name, params)
    return None


def acl_patterns(site: str, who: str = "%u") -> list[str]:
    """Mosquitto ACL lines that let a node (identified by ``who``) use only its own topics."""
    check_level("site", site)
    fill = {"site": site, "node": who}  # any other parameter (a list id) becomes '+'
    lines: list[str] = []
    for t in TOPICS.values():
        levels = [fill.get(m.group(1), "+") if (m := _PARAM.match(lv)) else lv for lv in t.levels]
        access = "write" if t.direction is Direction.NODE_TO_CENTRE else "read"
        lines.append(f"pattern {access} {'/'.join(levels)}")
    return lines
