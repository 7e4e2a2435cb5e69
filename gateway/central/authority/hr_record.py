"""One civil servant as an HR system (e-사람, 차세대 인사랑) exports them, validated.

Each check's message says what is wrong and how to write it instead; the
loader (``hr_import.py``) adds the file, the line and the field.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

FIELDS = (
    "employee_id",
    "name",
    "foreign_national",
    "organization",
    "organization_code",
    "position",
    "external_title",
    "office_phone",
    "portrait",
)
KOREAN_HEADERS = {
    "직원번호": "employee_id",
    "사번": "employee_id",
    "성명": "name",
    "외국인": "foreign_national",
    "소속": "organization",
    "기관코드": "organization_code",
    "직급": "position",
    "직위": "position",
    "대외직명": "external_title",
    "발급기관전화": "office_phone",
    "사진": "portrait",
}
_TRUE = {"y", "yes", "true", "1", "예", "o"}
_FALSE = {"n", "no", "false", "0", "아니오", "x", ""}

_EMPLOYEE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
_HANGUL_NAME = re.compile(r"[가-힣]+( [가-힣]+)*")
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z.'-]*( [A-Za-z][A-Za-z.'-]*)*")
_ORG_CODE = re.compile(r"\d{7}")
_PHONE = re.compile(r"0\d{1,2}-\d{3,4}-\d{4}")


class HrRecord(BaseModel):
    """One civil servant as the HR system exports them."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    employee_id: str
    name: str
    foreign_national: bool = False
    organization: str
    organization_code: str
    position: str
    external_title: str | None = None
    office_phone: str
    portrait: str | None = None

    @field_validator("external_title", "portrait", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("foreign_national", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        if value is None:
            return False
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError(f"{value!r} is not a yes/no; write Y or N (or true/false)")
        return value

    @field_validator("employee_id")
    @classmethod
    def _employee_id(cls, value: str) -> str:
        if not _EMPLOYEE_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an employee id; use 1-32 letters, digits and hyphens"
            )
        return value

    @field_validator("organization", "position", "external_title")
    @classmethod
    def _printed_text(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= 60:
            raise ValueError("must be 1-60 characters, as printed on the card")
        return value

    @field_validator("organization_code", mode="before")
    @classmethod
    def _organization_code(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(f'{value} is a number; write the code as a string, "{value:07d}"')
        if isinstance(value, str) and not _ORG_CODE.fullmatch(value.strip()):
            raise ValueError(
                f"{value!r} is not a 행정표준기관코드; it has exactly 7 digits, "
                "e.g. 1741000 for 행정안전부"
            )
        return value

    @field_validator("office_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.fullmatch(value):
            raise ValueError(f"{value!r} is not a phone number; write it like 044-205-1234")
        return value

    @model_validator(mode="after")
    def _name_script(self) -> HrRecord:
        if len(self.name) > 60:
            raise ValueError("name: at most 60 characters")
        if _HANGUL_NAME.fullmatch(self.name):
            return self
        if _LATIN_NAME.fullmatch(self.name):
            if not self.foreign_national:
                raise ValueError(
                    f"name: {self.name!r} is in English, which only foreign nationals may use; "
                    "write the Korean name, or set foreign_national to Y"
                )
            return self
        raise ValueError(
            f"name: {self.name!r} must be Hangul (홍길동) or, for a foreign national, "
            "Latin letters (Emily Carter)"
        )

    @property
    def printed_position(self) -> str:
        """What the card prints: the 대외직명 when there is one, else the 직위·직급."""
        return self.external_title or self.position
