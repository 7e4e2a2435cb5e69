"""What a correct gate decides, from the people's truth and the site's intent, not the node.

:class:`Truth` is told what happens (a status list published, a posture set,
a fire) as the simulation plays it, and keeps its own record; :meth:`Truth.expect`
then says, for one tap, whether a correct gate grants and why, in the words of
the scenario file (office hours, home buildings, the duty roster), written
again here without calling the policy engine or the verifier.

The rules (docs/simulator.md, "Ground truth"):

* a forgery (cloned card, replayed session, tampered element) is refused;
* a credential is refused as revoked or suspended only once a status list
  saying so was installed on the gate: before it, a correct gate grants (the
  gate cannot know what nobody told it);
* an expired credential is refused;
* a lent credential is granted: nothing the gate can read tells the borrower
  from the holder. It is counted as *undetectable*, not as a false accept;
* leaving is always granted (egress), in fire as well;
* fire: no entry, alarm ``fire_entry_attempt`` for each refused verified entry;
* lockdown: only 청사방호 enter; ``lockdown_attempt`` on each refused verified entry;
* otherwise staff enter their home building, or an allowed one, in office hours
  on a working day (the day is a holiday when the scenario says so); at
  제3호–제1호 only home buildings; duty officers enter their building in their
  shift (일직 09:00–18:00 on the day, 숙직 from 18:00).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from simulator.site.population import GUARD_POSITION, Person
from simulator.site.scenario import Scenario

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DUTY_DAY = (dt.time(9, 0), dt.time(18, 0))
HOME_ONLY = ("level3", "level2", "level1")


@dataclass(frozen=True, slots=True)
class Expectation:
    granted: bool
    kind: str  # the rule's kind a correct gate names: org_hours, duty, credential:revoked, …
    alarm: str | None = None
    undetectable: str | None = None  # why a correct gate cannot refuse this (lent)


@dataclass
class Truth:
    scenario: Scenario
    # serial -> [(sim seconds installed on every gate, status)]: what gates could know when
    status: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    postures: dict[str, str] = field(default_factory=dict)  # building -> posture in force
    duty: dict[str, tuple[str, str]] = field(default_factory=dict)  # holder -> (kind, building)

    def installed(self, serial: str, status: str, at: float) -> None:
        self.status.setdefault(serial, []).append((at, status))

    def known_status(self, serial: str, at: float) -> str:
        known = "valid"
        for when, status in self.status.get(serial, []):
            if when <= at:
                known = status
        return known

    def posture(self, building: str) -> str:
        return self.postures.get(building, "normal")

    # -- one tap -----------------------------------------------------------------------
    def expect(
        self,
        person: Person,
        serial: str,
        building: str,
        direction: str,
        at: float,
        local: dt.datetime,
    ) -> Expectation:
        if not person.genuine:
            return Expectation(False, f"credential:{person.forgery}")
        if person.valid_until is not None and local >= person.valid_until:
            return Expectation(False, "credential:expired")
        status = self.known_status(serial, at)
        if status == "invalid":
            return Expectation(False, "credential:revoked")
        if status == "suspended":
            return Expectation(False, "credential:suspended")
        lent = "lent" if person.person_id != person.holder_id else None
        posture = self.posture(building)
        if direction == "exit":
            kind = "posture" if posture == "fire" else "exit"
            return Expectation(True, kind, undetectable=lent)
        if posture == "fire":
            return Expectation(False, "posture", alarm="fire_entry_attempt")
        normally = self._normal_rule(person, building, local, home_only=False)
        if posture == "lockdown":
            if person.position == GUARD_POSITION:
                return Expectation(True, "role", undetectable=lent)
            kind = "posture" if normally else "default_deny"
            return Expectation(False, kind, alarm="lockdown_attempt")
        rule = self._normal_rule(person, building, local, home_only=posture in HOME_ONLY)
        if rule:
            return Expectation(True, rule, undetectable=lent)
        if posture != "normal" and normally:
            return Expectation(False, "posture")
        return Expectation(False, "default_deny")

    def _normal_rule(
        self, person: Person, building: str, local: dt.datetime, *, home_only: bool
    ) -> str | None:
        org = next((o for o in self.scenario.organizations if o.code == person.org), None)
        if org is not None:
            allowed = org.home if home_only else [*org.home, *org.also]
            if building in allowed and self._office_open(local):
                return "org_hours"
        duty = self.duty.get(person.holder_id)
        if duty is not None and duty[1] == building and self._on_duty(duty[0], local):
            return "duty"
        return None

    def _office_open(self, local: dt.datetime) -> bool:
        hours, meta = self.scenario.hours, self.scenario.scenario
        holiday = meta.holiday and local.date() == meta.date
        if holiday:
            return False
        if DAYS[local.weekday()] not in hours.days:
            return False
        return hours.start <= local.time() < hours.end

    def _on_duty(self, kind: str, local: dt.datetime) -> bool:
        day = self.scenario.scenario.date
        if kind == "일직":
            return local.date() == day and DUTY_DAY[0] <= local.time() < DUTY_DAY[1]
        # 숙직: from day_end on its date until day_start the next morning
        if local.date() == day:
            return local.time() >= DUTY_DAY[1]
        return local.date() == day + dt.timedelta(days=1) and local.time() < DUTY_DAY[0]


def rule_kind(rule: str | None) -> str:
    """The family of a node's rule id, comparable with :attr:`Expectation.kind`."""
    if rule is None:
        return "read"
    if rule.startswith("credential:"):
        return rule
    return rule.partition(":")[0]
