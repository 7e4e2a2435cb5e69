"""The tour's story: a Monday morning at speed gate 1 of building 6, Sejong complex.

An authority (인사혁신처장) enrolls an HR export and issues mobile IDs to five
people, each on a phone with its own device key, and chip cards to two, each
with its own card key. A gate that holds only the authority's IACA and the
status lists it is sent judges every tap with the real verifier. The story
then walks the lifecycle (loss, reissue, leave, reinstatement, retirement)
and the attacks a gate must stop (a cloned card, a replayed session, a
tampered element, a forged issuer, a stale list, a rolled-back list), and
records what was expected and what the gate decided.

Time is a fixed, realistic Monday 08:50 KST unless the caller gives another
start: the run is then the same story every time, and certificates and
credentials are made at that moment, so any date works.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from gateway.central.authority.context import KST
from gateway.central.authority.records import HolderRecord, HolderState
from gateway.central.authority.service import Authority
from gateway.credentials.csid import ORGANIZATION_CODE
from gateway.credentials.decision import DenialReason
from gateway.tour.devices import (
    Card,
    ClonedCard,
    Device,
    Gate,
    Phone,
    ReplayingPhone,
    tamper,
)
from gateway.tour.record import GRANTED, REFUSED, TourResult
from gateway.tour.stage import Stage

DEFAULT_START = dt.datetime(2026, 3, 2, 8, 50, tzinfo=KST)  # a Monday, before the 09:00 peak
DEFAULT_READER = "sejong-6-gate-1"
AUTHORITY_NAME = "인사혁신처장"
AUTHORITY_ORGANIZATION = "인사혁신처"
DB_NAME = "authority.db"
HR_DESK = "tour/hr-desk"
SERVICE_DESK = "tour/service-desk"
FORGED_CODE = "1760000"  # 인사혁신처: a code the gate's policy might favour

# Who plays which part with the example HR export; any other export is cast in order.
PREFERRED_CAST = {
    "regular": "17410231",  # 김민준, 행정안전부
    "loser": "17410487",  # 이서연, 행정안전부: loses her phone
    "leave": "17600118",  # 최유진, 인사혁신처: military-service leave
    "foreign": "10510915",  # Emily Carter, 기획재정부: English name
    "rooted": "16130264",  # 윤서준, 국토교통부: tampers with his phone
    "card": "17410952",  # 박지훈, 행정안전부: chip card, gets cloned
    "retiree": "10510077",  # 강도윤, 기획재정부: chip card, retires
}
ROLES = tuple(PREFERRED_CAST)


class TourError(Exception):
    """The tour cannot start: a missing HR export, a directory already in use, too few people."""


def default_hr_file() -> Path | None:
    """``config/examples/hr-export.csv`` of the source tree this package runs from."""
    candidate = Path(__file__).resolve().parents[2] / "config" / "examples" / "hr-export.csv"
    return candidate if candidate.is_file() else None


def cast(holders: Iterable[HolderRecord]) -> dict[str, HolderRecord]:
    active = {h.holder_id: h for h in holders if h.state is HolderState.ACTIVE}
    if all(holder_id in active for holder_id in PREFERRED_CAST.values()):
        return {role: active[holder_id] for role, holder_id in PREFERRED_CAST.items()}
    if len(active) < len(ROLES):
        raise TourError(
            f"the tour needs {len(ROLES)} active people in the HR export, not {len(active)}"
        )
    return dict(zip(ROLES, active.values(), strict=False))


def run_tour(
    *,
    hr_file: Path,
    start: dt.datetime = DEFAULT_START,
    reader_id: str = DEFAULT_READER,
    keep: Path | None = None,
) -> TourResult:
    """Play the story; with ``keep``, leave the authority's DB and files in that directory."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if keep is not None:
        if (keep / DB_NAME).exists():
            raise TourError(f"{keep / DB_NAME} exists already: give an empty or new directory")
        keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gateway-tour-") as scratch:
        home = keep if keep is not None else Path(scratch)
        with Authority.create(
            home / DB_NAME,
            name=AUTHORITY_NAME,
            organization=AUTHORITY_ORGANIZATION,
            now=start,
            actor=HR_DESK,
        ) as authority:
            report = authority.enroll_file(
                hr_file, now=start, actor=HR_DESK, reason="HR export (e-사람)"
            )
            anchor = x509.load_pem_x509_certificate(authority.trust_anchor_pem())
            if keep is not None:
                (keep / "iaca.pem").write_bytes(authority.trust_anchor_pem())
                (keep / "status-signer.pem").write_bytes(authority.status_signer_pem())
            gate = Gate(
                reader_id,
                anchors=[anchor],
                status_signer=authority.status_signer_certificate,
                status_uri=authority.status_uri,
                now=start,
            )
            stage = Stage(authority, gate, start, keep)
            _play(stage, cast(authority.holders()), hr_file, Path(scratch) / "impostor.db")
            return TourResult(
                started_at=start,
                reader_id=reader_id,
                authority=authority.name,
                status_uri=authority.status_uri,
                hr_file=hr_file,
                enrolled=len(report.enrolled),
                beats=stage.beats,
                kept=keep,
            )


def _play(stage: Stage, people: dict[str, HolderRecord], hr_file: Path, impostor_db: Path) -> None:
    auth = stage.authority
    phones = {role: Phone() for role in ("regular", "loser", "leave", "foreign", "rooted")}
    cards = {role: Card() for role in ("card", "retiree")}
    serials: dict[str, str] = {}
    for role, phone in phones.items():
        issued = auth.issue_mobile(
            people[role].holder_id,
            phone.key.public_key(),
            now=stage.now,
            actor=HR_DESK,
            reason="mobile ID applied for and approved",
        )
        phone.issuer_signed, serials[role] = issued.document, issued.serial
    for role, chip in cards.items():
        issued = auth.issue_card(
            people[role].holder_id,
            chip.key.public_key(),
            now=stage.now,
            actor=HR_DESK,
            reason="chip card personalised",
        )
        chip.card_object, serials[role] = issued.document, issued.serial
    stage.event(f"{len(phones)} mobile IDs and {len(cards)} chip cards issued")
    stage.publish()

    def name(role: str) -> str:
        return people[role].name

    def tap(title: str, device: Device, expected: str, credential: str) -> None:
        stage.tap(title, device, expected, credential=credential)

    revoked, suspended = DenialReason.REVOKED.value, DenialReason.SUSPENDED.value
    not_the_holder = DenialReason.DEVICE_AUTH_FAILED.value
    lost = f"{name('loser')} phone (lost)"

    # The morning peak: valid phones and cards. Every beat starts one step later.
    stage.step()
    tap("phone at the morning peak", phones["regular"], GRANTED, f"{name('regular')} phone")
    recorded = phones["regular"].last_response  # an eavesdropper at the gate keeps this
    stage.step()
    tap("phone", phones["loser"], GRANTED, f"{name('loser')} phone")
    stage.step()
    tap("phone, English name", phones["foreign"], GRANTED, f"{name('foreign')} phone")
    stage.step()
    tap("chip card, challenge–response", cards["card"], GRANTED, f"{name('card')} card")
    skimmed = cards["card"].last_answer  # a skimmer beside the reader keeps this
    stage.step()
    tap("chip card", cards["retiree"], GRANTED, f"{name('retiree')} card")

    # Rule 60 ③④: a lost phone stops opening doors at once.
    stage.step()
    auth.report_lost(serials["loser"], now=stage.now, actor=SERVICE_DESK, reason="phone lost")
    stage.event(f"{name('loser')} reports the phone lost")
    stage.publish()
    tap("lost phone, found by someone else", phones["loser"], revoked, lost)

    # Rule 60 ⑤: reissue to a new phone; the old one stays dead.
    new_phone = Phone()
    stage.step()
    issued = auth.reissue(
        serials["loser"],
        now=stage.now,
        actor=HR_DESK,
        reason="reissue after loss: new phone",
        key=new_phone.key.public_key(),
    )
    new_phone.issuer_signed = issued.document
    stage.event(f"{name('loser')} reissued a mobile ID, new phone")
    stage.publish()
    tap("reissued: the old phone", phones["loser"], revoked, lost)
    stage.step()
    tap("reissued: the new phone", new_phone, GRANTED, f"{name('loser')} new phone")

    # Rule 61 ②: leave suspends, reinstatement resumes.
    leave = people["leave"].holder_id
    stage.step()
    auth.suspend(leave, now=stage.now, actor=HR_DESK, reason="military-service leave")
    stage.event(f"{name('leave')} suspended: military-service leave")
    stage.publish()
    tap("on leave (rule 61 ②)", phones["leave"], suspended, f"{name('leave')} phone")
    stage.step()
    auth.resume(leave, now=stage.now, actor=HR_DESK, reason="reinstated after leave")
    stage.event(f"{name('leave')} resumed: reinstated")
    stage.publish()
    tap("reinstated", phones["leave"], GRANTED, f"{name('leave')} phone")

    # Attacks.
    stage.step()
    clone = ClonedCard(cards["card"].card_object, skimmed)
    tap("cloned card, skimmed answer", clone, not_the_holder, f"copy of {name('card')} card")
    stage.step()
    replay = ReplayingPhone(recorded)
    tap("recorded session replayed", replay, not_the_holder, f"{name('regular')} recording")
    stage.step()
    rooted = Phone(
        phones["rooted"].key,
        tamper(phones["rooted"].issuer_signed, ORGANIZATION_CODE, FORGED_CODE),
    )
    tap(
        f"{ORGANIZATION_CODE} → {FORGED_CODE}",
        rooted,
        DenialReason.DIGEST_MISMATCH.value,
        f"{name('rooted')} phone (rooted)",
    )
    stage.step()
    forged = _impostor_phone(impostor_db, hr_file, people["regular"].holder_id, stage.now)
    stage.event(f"impostor IACA issues {name('regular')} a mobile ID")
    tap(
        "mdoc from an unknown IACA",
        forged,
        DenialReason.UNTRUSTED_ISSUER.value,
        f"{name('regular')} phone (impostor)",
    )

    # A gate cut off from the publisher must not trust an old list for ever.
    gap, ttl = stage.skip_past_ttl()
    stage.event(f"no status list for {gap} s (ttl {ttl} s)")
    regular = f"{name('regular')} phone"
    tap("status list past its ttl", phones["regular"], DenialReason.STALE_STATUS.value, regular)
    stage.step()
    stage.event("link to the publisher restored")
    stage.publish()
    tap("fresh status list again", phones["regular"], GRANTED, regular)

    # Rule 61 ①: retirement is for good.
    stage.step()
    auth.retire(people["retiree"].holder_id, now=stage.now, actor=HR_DESK, reason="retirement")
    stage.event(f"{name('retiree')} retired: credentials INVALID")
    stage.publish()
    tap("retired (rule 61 ①)", cards["retiree"], revoked, f"{name('retiree')} card")

    # Rollback: the first list, in which the lost phone was still VALID, is refused.
    stage.step()
    stage.event("status list v1 (lost phone VALID) replayed")
    stage.feed_token("rollback to status list v1", 1, REFUSED)
    stage.step()
    tap("lost phone after the rollback try", phones["loser"], revoked, lost)


def _impostor_phone(path: Path, hr_file: Path, holder_id: str, now: dt.datetime) -> Phone:
    """A mobile ID from an authority with the same name but its own IACA, which no gate trusts."""
    with Authority.create(
        path, name=AUTHORITY_NAME, organization=AUTHORITY_ORGANIZATION, now=now, actor="impostor"
    ) as impostor:
        impostor.enroll_file(hr_file, now=now, actor="impostor")
        phone = Phone()
        issued = impostor.issue_mobile(holder_id, phone.key.public_key(), now=now, actor="impostor")
        phone.issuer_signed = issued.document
        return phone
