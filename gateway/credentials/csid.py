"""The civil-servant ID (공무원증) as an ISO/IEC 18013-5 document type.

The data elements are the fields printed on the card (rule 58 of the
national civil-servant service rules), plus the two a gate needs to act on:
a holder id that survives reissue and a serial that names one credential.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# Like the mDL's "org.iso.18013.5.1.mDL" / "org.iso.18013.5.1", the docType
# names the document and the namespace its data elements.
DOCTYPE = "kr.go.mpm.csid.1"
NAMESPACE = "kr.go.mpm.csid.1"
CARD_DOCTYPE = "kr.go.mpm.csid.card.1"

ISSUE_NUMBER = "issue_number"  # 발급번호
NAME = "name"  # 성명 (Korean, or English for foreign nationals)
ORGANIZATION = "organization"  # 소속
ORGANIZATION_CODE = "organization_code"  # 행정표준기관코드, what the policy keys on
POSITION = "position"  # 직위·직급 or 대외직명
ISSUE_DATE = "issue_date"  # 발급일 (full-date, tag 1004)
ISSUING_AUTHORITY = "issuing_authority"  # 발급기관
ISSUING_AUTHORITY_PHONE = "issuing_authority_phone"
PORTRAIT = "portrait"  # JPEG
HOLDER_ID = "holder_id"  # stable across reissue
CREDENTIAL_SERIAL = "credential_serial"  # one issued credential

ALL_ELEMENTS = (
    ISSUE_NUMBER,
    NAME,
    ORGANIZATION,
    ORGANIZATION_CODE,
    POSITION,
    ISSUE_DATE,
    ISSUING_AUTHORITY,
    ISSUING_AUTHORITY_PHONE,
    PORTRAIT,
    HOLDER_ID,
    CREDENTIAL_SERIAL,
)

# What a door asks for by default: enough to decide and to log, nothing that
# identifies the person to a bystander. A guard desk may add NAME and PORTRAIT.
DOOR_ELEMENTS = (HOLDER_ID, CREDENTIAL_SERIAL, ORGANIZATION_CODE, POSITION)

# Without these the gate cannot act on or log the decision.
REQUIRED_ELEMENTS = (HOLDER_ID, CREDENTIAL_SERIAL)


@dataclass(frozen=True, slots=True)
class CivilServantClaims:
    """One civil servant's printed card data, as issued."""

    holder_id: str
    credential_serial: str
    issue_number: str
    name: str
    organization: str
    organization_code: str
    position: str
    issue_date: dt.date
    issuing_authority: str
    issuing_authority_phone: str
    portrait: bytes = field(default=b"", repr=False)

    def elements(self) -> dict[str, Any]:
        """The data elements to issue, by identifier. An empty portrait is left out."""
        values: dict[str, Any] = {
            HOLDER_ID: self.holder_id,
            CREDENTIAL_SERIAL: self.credential_serial,
            ISSUE_NUMBER: self.issue_number,
            NAME: self.name,
            ORGANIZATION: self.organization,
            ORGANIZATION_CODE: self.organization_code,
            POSITION: self.position,
            ISSUE_DATE: self.issue_date,
            ISSUING_AUTHORITY: self.issuing_authority,
            ISSUING_AUTHORITY_PHONE: self.issuing_authority_phone,
        }
        if self.portrait:
            values[PORTRAIT] = self.portrait
        return values
