"""Alarm rules over stored events, availability and heartbeats. No clock of its own:
every method takes ``now`` (or uses the event's time), so tests drive time by hand.

Keys deduplicate: the store keeps one open alarm per key (see :class:`NewAlarm`).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass

from gateway.central.collector.config import AlarmSection, Site
from gateway.central.collector.model import (
    AlarmKind,
    ClearAlarm,
    NewAlarm,
    Severity,
    StoredEvent,
)
from gateway.mqtt.payloads import Heartbeat

AlarmOp = NewAlarm | ClearAlarm

DOOR_ALARMS: dict[str, tuple[AlarmKind, Severity]] = {
    "forced_alarm": (AlarmKind.FORCED_DOOR, Severity.CRITICAL),
    "held_open_alarm": (AlarmKind.HELD_OPEN, Severity.WARNING),
    "tamper_alarm": (AlarmKind.TAMPER, Severity.CRITICAL),
    "tailgating_alarm": (AlarmKind.TAILGATING, Severity.WARNING),
}
STALE_WORDS = ("stale_status", "status_stale", "stale")


@dataclass(frozen=True)
class _Grant:
    building: str
    at: dt.datetime
    door: str | None
    node: str


class AlarmRules:
    def __init__(self, settings: AlarmSection, site: Site) -> None:
        self.settings = settings
        self.site = site
        self._denials: dict[tuple[str, str], deque[dt.datetime]] = {}
        self._last_grant: dict[str, _Grant] = {}
        self._heartbeats: dict[str, tuple[str, dt.datetime]] = {}  # node -> (site, when seen)
        self._silent: set[str] = set()

    # -- events ---------------------------------------------------------------------------
    def on_event(self, e: StoredEvent) -> list[AlarmOp]:
        if e.kind == "door":
            return self._door(e)
        if e.kind == "decision":
            return self._decision(e)
        if e.kind == "stale_status":
            return [
                self._new(
                    AlarmKind.STALE_STATUS,
                    Severity.WARNING,
                    f"stale_status:{e.node}",
                    e,
                    {"seq": e.seq},
                )
            ]
        if e.is_alarm:
            return [
                self._new(
                    AlarmKind.NODE_ALARM,
                    Severity.WARNING,
                    f"node_alarm:{e.node}:{e.kind}",
                    e,
                    {"seq": e.seq, **e.payload},
                )
            ]
        return []

    def _new(
        self,
        kind: AlarmKind,
        severity: Severity,
        key: str,
        e: StoredEvent,
        detail: dict[str, object],
    ) -> NewAlarm:
        return NewAlarm(kind, severity, key, e.at, e.site, e.node, e.door, dict(detail))

    def _door(self, e: StoredEvent) -> list[AlarmOp]:
        door_event = str(e.payload.get("door_event", ""))
        if door_event == "alarm_cleared":
            cleared = DOOR_ALARMS.get(str(e.payload.get("alarm", "")))
            kind = cleared[0] if cleared else AlarmKind.DOOR_ALARM
            return [ClearAlarm(f"{kind.value}:{e.node}:{e.door}", e.at)]
        if not e.is_alarm:
            return []
        kind, severity = DOOR_ALARMS.get(door_event, (AlarmKind.DOOR_ALARM, Severity.WARNING))
        return [
            self._new(
                kind,
                severity,
                f"{kind.value}:{e.node}:{e.door}",
                e,
                {"seq": e.seq, "door_event": door_event},
            )
        ]

    def _decision(self, e: StoredEvent) -> list[AlarmOp]:
        out: list[AlarmOp] = []
        alarms = e.payload.get("alarms") or []
        words = [str(a) for a in alarms] if isinstance(alarms, list) else []
        if e.reason in STALE_WORDS or any(w in STALE_WORDS for w in words):
            out.append(
                self._new(
                    AlarmKind.STALE_STATUS,
                    Severity.WARNING,
                    f"stale_status:{e.node}",
                    e,
                    {"seq": e.seq},
                )
            )
        elif e.is_alarm:
            out.append(
                self._new(
                    AlarmKind.POLICY_ALARM,
                    Severity.WARNING,
                    f"policy_alarm:{e.node}:{e.seq}",
                    e,
                    {"seq": e.seq, "alarms": words, "holder_id": e.holder_id},
                )
            )
        if e.granted is False:
            out.extend(self._denial(e))
        elif e.granted:
            out.extend(self._travel(e))
        return out

    def _denial(self, e: StoredEvent) -> list[AlarmOp]:
        window = dt.timedelta(seconds=self.settings.denial_burst_window_s)
        times = self._denials.setdefault((e.node, e.door or ""), deque())
        times.append(e.at)
        while times and e.at - times[0] > window:
            times.popleft()
        if len(times) < self.settings.denial_burst_count:
            return []
        count = len(times)
        times.clear()  # the next burst counts afresh
        return [
            self._new(
                AlarmKind.DENIAL_BURST,
                Severity.WARNING,
                f"denial_burst:{e.node}:{e.door}",
                e,
                {"denials": count, "window_s": self.settings.denial_burst_window_s},
            )
        ]

    def _travel(self, e: StoredEvent) -> list[AlarmOp]:
        who = e.credential_serial or e.holder_id
        if who is None or e.building is None:
            return []
        last = self._last_grant.get(who)
        self._last_grant[who] = _Grant(e.building, e.at, e.door, e.node)
        if last is None or last.building == e.building:
            return []
        meters = self.site.meters_between(last.building, e.building)
        elapsed = abs((e.at - last.at).total_seconds())
        if meters is None or meters <= self.settings.walking_speed_m_s * elapsed:
            return []
        return [
            self._new(
                AlarmKind.IMPOSSIBLE_TRAVEL,
                Severity.CRITICAL,
                f"impossible_travel:{who}:{e.node}:{e.seq}",
                e,
                {
                    "credential": who,
                    "from_building": last.building,
                    "from_door": last.door,
                    "to_building": e.building,
                    "meters": round(meters),
                    "seconds": round(elapsed, 1),
                },
            )
        ]

    # -- node health ----------------------------------------------------------------------
    def on_availability(
        self, site: str, node: str, online: bool, now: dt.datetime
    ) -> list[AlarmOp]:
        key = f"node_offline:{node}"
        if online:
            return [ClearAlarm(key, now)]
        return [
            NewAlarm(
                AlarmKind.NODE_OFFLINE,
                Severity.CRITICAL,
                key,
                now,
                site,
                node,
                None,
                {"cause": "availability offline (Last Will or clean shutdown)"},
            )
        ]

    def on_heartbeat(self, beat: Heartbeat, now: dt.datetime) -> list[AlarmOp]:
        self._heartbeats[beat.node] = (beat.site, now)
        out: list[AlarmOp] = []
        if beat.node in self._silent:
            self._silent.discard(beat.node)
            out.append(ClearAlarm(f"node_offline:{beat.node}", now))
        stale = sorted(
            [f"status_list:{k}" for k, s in beat.status_lists.items() if s.stale]
            + [name for name, s in (("policy", beat.policy), ("posture", beat.posture)) if s.stale]
        )
        key = f"stale_status:{beat.node}"
        if stale:
            out.append(
                NewAlarm(
                    AlarmKind.STALE_STATUS,
                    Severity.WARNING,
                    key,
                    now,
                    beat.site,
                    beat.node,
                    None,
                    {"stale": stale},
                )
            )
        else:
            out.append(ClearAlarm(key, now))
        return out

    def check_heartbeats(self, now: dt.datetime) -> list[AlarmOp]:
        """Nodes silent for more than ``offline_after_missed`` heartbeat intervals."""
        limit = dt.timedelta(
            seconds=self.settings.heartbeat_interval_s * self.settings.offline_after_missed
        )
        out: list[AlarmOp] = []
        for node, (site, seen) in self._heartbeats.items():
            if node not in self._silent and now - seen > limit:
                self._silent.add(node)
                out.append(
                    NewAlarm(
                        AlarmKind.NODE_OFFLINE,
                        Severity.CRITICAL,
                        f"node_offline:{node}",
                        now,
                        site,
                        node,
                        None,
                        {"cause": "no heartbeat", "last_heartbeat": seen.isoformat()},
                    )
                )
        return out
