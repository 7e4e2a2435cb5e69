"""The people of a complex, issued by the real authority, and what is true about each.

Every credential comes from :class:`~gateway.central.authority.service.Authority`
(enrolled from an HR export made here, issued, reported lost, suspended), so the
bytes a gate sees are the authority's. What the simulator *knows* about each
person (their truth: who they really are, whether the device is genuine, where
they mean to go) is kept beside, in :class:`Person`, for the ground truth.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.hr_import import HrEntry, HrExport
from gateway.central.authority.hr_record import HrRecord
from gateway.central.authority.service import Authority, AuthoritySettings
from gateway.credentials import mdoc
from gateway.credentials.csid import DOCTYPE, DOOR_ELEMENTS, NAMESPACE
from simulator.holder.chip_card import ChipCard, ClonedCard
from simulator.holder.phone_nfc import PhoneNfc
from simulator.holder.wallet import ReplayWallet, TamperingWallet, Wallet
from simulator.site.scenario import Scenario

ACTOR = "simulator/hr-desk"
GUARD_POSITION = "청사방호"
UNKNOWN_ORG = ("1311999", "외부기관")
NAMES = (
    "김민준",
    "이서연",
    "박지훈",
    "최유진",
    "정하준",
    "강서윤",
    "조도윤",
    "윤지우",
    "장예준",
    "임수아",
)
ISSUED_DAYS_BEFORE = 30  # credentials were issued a month before the simulated day
EXPIRED_ISSUED_DAYS_BEFORE = 20
EXPIRED_VALID_DAYS = 10

Responder = Callable[[bytes], bytes]


@dataclass
class Person:
    """One person who walks up to gates, and what is true about them."""

    person_id: str  # who physically walks (a borrower is not the holder)
    holder_id: str  # whose credential they carry
    org: str
    building: str  # where they go
    kind: str  # staff, lost, suspended, expired, wrong_building, unknown_org, cloned, …
    credential: str  # mobile or card
    device: Any  # a responder: PhoneNfc or a chip card, the bytes a gate reads
    serial: str
    position: str = "주무관"
    genuine: bool = True  # False: cloned, replayed, tampered
    forgery: str | None = None  # the verifier reason a forgery must meet
    valid_until: dt.datetime | None = None
    role: str | None = None  # a cast member's name
    old_devices: list[tuple[Any, str]] = field(default_factory=list)  # (device, serial) reissued

    def fresh_device(self) -> Any:
        """The responder, reset for a new tap (a new engagement, nothing selected)."""
        self.device.activated()
        return self.device


@dataclass
class Population:
    authority: Authority
    people: list[Person]
    cast: dict[str, Person]
    duty: list[tuple[str, str, str]]  # (holder_id, kind 일직/숙직, building)
    keys: dict[str, ec.EllipticCurvePrivateKey]  # by serial: to reissue to the same device


def _capacity(scenario: Scenario) -> int:
    """Room for everyone, reissues and random indices; small, as every gate inflates each list."""
    extras: int = sum(scenario.population.model_dump().values())
    wanted = 3 * (scenario.people + extras + 64)
    return 1 << max(12, wanted.bit_length())


def _record(holder_id: str, org: tuple[str, str], n: int, position: str) -> HrRecord:
    return HrRecord(
        employee_id=holder_id,
        name=NAMES[n % len(NAMES)],
        organization=org[1],
        organization_code=org[0],
        position=position,
        office_phone="044-205-1135",
    )


class _Issuer:
    """Enrolls and issues in bulk; the authority's own rules decide every state."""

    def __init__(self, authority: Authority, day: dt.datetime, rng: random.Random) -> None:
        self.authority = authority
        self.issued_at = day - dt.timedelta(days=ISSUED_DAYS_BEFORE)
        self.rng = rng
        self.records: list[HrRecord] = []
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    def enroll(self) -> None:
        entries = [HrEntry(n + 2, r) for n, r in enumerate(self.records)]
        self.authority.enroll(HrExport("simulator", entries), now=self.issued_at, actor=ACTOR)

    def issue(
        self, holder_id: str, credential: str, *, expired: bool = False
    ) -> tuple[Any, str, dt.datetime, bytes, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        when = self.issued_at
        valid_days = None
        if expired:
            when = self.issued_at + dt.timedelta(
                days=ISSUED_DAYS_BEFORE - EXPIRED_ISSUED_DAYS_BEFORE
            )
            valid_days = EXPIRED_VALID_DAYS
        issue = self.authority.issue_mobile if credential == "mobile" else self.authority.issue_card
        issued = issue(holder_id, key.public_key(), now=when, actor=ACTOR, valid_days=valid_days)
        self.keys[issued.serial] = key
        device: Any = (
            PhoneNfc(Wallet([(issued.document, key)]))
            if credential == "mobile"
            else ChipCard(issued.document, key)
        )
        until = issued.credential.valid_until
        return device, issued.serial, until, issued.document, key


def build_population(scenario: Scenario, db: Path, day_start: dt.datetime) -> Population:
    """Enroll and issue everyone; lost and suspended ones are changed before the day."""
    rng = random.Random(scenario.scenario.seed)  # noqa: S311 (a seeded simulation, not keys)
    authority = Authority.create(
        db,
        name="인사혁신처장",
        organization="인사혁신처",
        now=day_start - dt.timedelta(days=60),
        actor=ACTOR,
        settings=AuthoritySettings(status_capacity=_capacity(scenario)),
    )
    # A simulation's database is scratch: losing it to a power cut loses nothing.
    authority._ctx.conn.execute("PRAGMA synchronous=OFF")
    issuer = _Issuer(authority, day_start, rng)
    plan: list[tuple[str, str, str, str, str, str | None]] = []  # id, org, building, kind, cred

    def add(
        org: tuple[str, str],
        building: str,
        kind: str,
        cred: str,
        position: str = "주무관",
        role: str | None = None,
    ) -> None:
        holder_id = f"S{org[0][:4]}-{len(issuer.records):06d}"
        issuer.records.append(_record(holder_id, org, len(issuer.records), position))
        plan.append((holder_id, org[0], building, kind, cred, role))
        positions[holder_id] = position

    positions: dict[str, str] = {}
    orgs = {o.code: (o.code, o.name) for o in scenario.organizations}
    all_buildings = [b.id for b in scenario.buildings]

    def pick_cred(share: float) -> str:
        return "mobile" if rng.random() < share else "card"

    for org in scenario.organizations:
        for _ in range(org.people):
            add(orgs[org.code], rng.choice(org.home), "staff", pick_cred(org.mobile_share))
    first = scenario.organizations[0]
    home = first.home[0]
    extras = scenario.population
    for kind in ("lost", "suspended", "expired", "cloned", "replayed", "tampered", "lent"):
        for _ in range(getattr(extras, kind)):
            cred = (
                "card"
                if kind == "cloned"
                else "mobile"
                if kind in ("replayed", "tampered")
                else pick_cred(0.5)
            )
            add(orgs[first.code], home, kind, cred)
    for _ in range(extras.wrong_building):
        outside = [
            (o, b)
            for o in scenario.organizations
            for b in all_buildings
            if b not in (*o.home, *o.also)
        ]
        if outside:
            org, building = rng.choice(outside)
            add(orgs[org.code], building, "wrong_building", pick_cred(0.5))
        else:  # every organization may enter every building: an outside one comes instead
            add(UNKNOWN_ORG, home, "wrong_building", pick_cred(0.5))
    for _ in range(extras.unknown_org):
        add(UNKNOWN_ORG, home, "unknown_org", pick_cred(0.5))
    for _ in range(extras.guards):
        add(orgs[first.code], home, "guard", "card", GUARD_POSITION)
    for kind, count in (("duty_day", extras.duty_day), ("duty_night", extras.duty_night)):
        for _ in range(count):
            add(orgs[first.code], home, kind, "mobile")
    for member in scenario.cast:
        org = next(o for o in scenario.organizations if o.code == member.org)
        building = member.building or org.home[0]
        add(orgs[org.code], building, "cast", member.credential, role=member.role)
    issuer.enroll()

    people: list[Person] = []
    cast: dict[str, Person] = {}
    duty: list[tuple[str, str, str]] = []
    lenders: list[Person] = []
    for holder_id, code, building, kind, cred, role in plan:
        device, serial, until, document, key = issuer.issue(
            holder_id, cred, expired=kind == "expired"
        )
        person = Person(
            holder_id,
            holder_id,
            code,
            building,
            kind,
            cred,
            device,
            serial,
            position=positions[holder_id],
            valid_until=until,
            role=role,
        )
        if kind in ("cloned", "replayed", "tampered"):
            _forge(person, document, key)
        if kind == "lent":
            lenders.append(person)
        if kind in ("duty_day", "duty_night"):
            duty.append((holder_id, "일직" if kind == "duty_day" else "숙직", building))
        if role is not None:
            cast[role] = person
        people.append(person)
    before_day = day_start - dt.timedelta(days=1)
    for person in people:
        if person.kind == "lost":
            authority.report_lost(person.serial, now=before_day, actor=ACTOR, reason="phone lost")
        elif person.kind == "suspended":
            authority.suspend(person.holder_id, now=before_day, actor=ACTOR, reason="leave")
    for lender in lenders:  # the lender comes too, with their own device; a friend borrows a copy
        borrower = Person(
            f"B-{lender.holder_id}",
            lender.holder_id,
            lender.org,
            lender.building,
            "borrower",
            lender.credential,
            _copy_device(lender),
            lender.serial,
            valid_until=lender.valid_until,
        )
        lender.kind = "staff"
        people.append(borrower)
    return Population(authority, people, cast, duty, issuer.keys)


def _copy_device(person: Person) -> Any:
    """The same credential in a second pair of hands (a lent phone or card)."""
    device = person.device
    if isinstance(device, PhoneNfc):
        return PhoneNfc(Wallet([(d.issuer_signed, d.device_key) for d in device.wallet.documents]))
    return ChipCard(device.card_object, device.card_key)


def _forge(person: Person, document: bytes, key: ec.EllipticCurvePrivateKey) -> None:
    """The genuine holder keeps nothing here: this person is the attacker with a copy."""
    person.person_id = f"X-{person.holder_id}"
    person.genuine = False
    if person.kind == "cloned":
        genuine = ChipCard(document, key)
        skimmed = genuine.authenticate(b"\x00" * 16)[:-2]  # an answer to someone else's challenge
        person.device = ClonedCard(document, skimmed)
        person.forgery = "device_auth_failed"
    elif person.kind == "replayed":
        person.device = ReplayWallet([(document, key)], recorded=_recorded_response(document, key))
        person.device = PhoneNfc(person.device)
        person.forgery = "device_auth_failed"
    else:
        person.device = PhoneNfc(
            TamperingWallet([(document, key)], element="organization_code", value="1760000")
        )
        person.forgery = "digest_mismatch"


def _recorded_response(document: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DeviceResponse an eavesdropper recorded at an earlier session of the genuine phone."""
    transcript = b"\x83\xf6\xf6\xf6"  # another session's transcript: any will do
    return mdoc.present(
        document, key, transcript, doctype=DOCTYPE, requested={NAMESPACE: DOOR_ELEMENTS}
    )
