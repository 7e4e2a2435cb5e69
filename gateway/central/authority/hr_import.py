"""HR exports (e-사람 for central agencies, 차세대 인사랑 for local governments).

Both come as CSV (often CP949 when saved from Excel) or JSON. A record is one
civil servant:

| field | Korean header | meaning |
|---|---|---|
| ``employee_id`` | 직원번호, 사번 | the HR system's person id; becomes ``holder_id`` |
| ``name`` | 성명 | Korean, or English for foreign nationals |
| ``foreign_national`` | 외국인 | true/false, Y/N; an English name needs true |
| ``organization`` | 소속 | agency name as printed |
| ``organization_code`` | 기관코드 | 행정표준기관코드, 7 digits |
| ``position`` | 직급, 직위 | 직위·직급, e.g. 행정사무관, 주무관, 서기관 |
| ``external_title`` | 대외직명 | optional; printed instead of the position |
| ``office_phone`` | 발급기관전화 | phone of the issuing office, e.g. 044-205-1234 |
| ``portrait`` | 사진 | optional JPEG path, relative to the export file |

CSV takes either header set. JSON is a list of records or
``{"source": …, "exported_at": …, "employees": [...]}``. Every problem names
the file, the line and the field and says how to fix it; one bad record
rejects the whole file, so an import never half-happens.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.central.authority.hr_record import FIELDS, KOREAN_HEADERS, HrRecord
from gateway.central.authority.json_positions import array_items, line_at, object_members

MAX_PORTRAIT_BYTES = 100 * 1024
MAX_REPORTED = 50

_JPEG_MAGIC = (b"\xff\xd8\xff", b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ")  # JPEG, JP2, J2K


class _JsonExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    exported_at: str | None = None
    employees: list[Any]


@dataclass(frozen=True, slots=True)
class HrEntry:
    """A validated record, where it came from, and its portrait bytes (empty if none)."""

    line: int
    record: HrRecord
    portrait: bytes = b""


@dataclass(frozen=True, slots=True)
class HrExport:
    source: str  # the file as named to us
    entries: list[HrEntry]


@dataclass(frozen=True, slots=True)
class HrIssue:
    source: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        return (
            f"{where}, field {self.field}: {self.message}"
            if self.field
            else f"{where}: {self.message}"
        )


class HrImportError(ValueError):
    """The export cannot be enrolled. ``issues`` lists every problem found."""

    def __init__(self, issues: list[HrIssue]) -> None:
        self.issues = issues
        shown = [str(issue) for issue in issues[:MAX_REPORTED]]
        if len(issues) > MAX_REPORTED:
            shown.append(f"… and {len(issues) - MAX_REPORTED} more")
        super().__init__("\n".join(shown))


def load_hr_export(path: Path, *, encoding: str | None = None) -> HrExport:
    """Read, validate and load portraits for an HR export; raises HrImportError."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HrImportError([HrIssue(source, None, None, f"cannot read: {exc.strerror}")]) from exc
    text = _decode(raw, source, encoding)
    if path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".csv" and text.lstrip()[:1] in ("[", "{")
    ):
        return parse_hr_json(text, source=source, base_dir=path.parent)
    return parse_hr_csv(text, source=source, base_dir=path.parent)


def _decode(raw: bytes, source: str, encoding: str | None) -> str:
    for candidate in [encoding] if encoding else ["utf-8-sig", "cp949"]:
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise HrImportError(
                [HrIssue(source, None, None, f"unknown encoding {candidate!r}")]
            ) from exc
    tried = encoding or "UTF-8 or CP949 (EUC-KR)"
    raise HrImportError([HrIssue(source, None, None, f"not {tried} text; save it as UTF-8")])


def parse_hr_csv(text: str, *, source: str, base_dir: Path) -> HrExport:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    issues: list[HrIssue] = []
    header = next(reader, None)
    if header is None:
        raise HrImportError([HrIssue(source, None, None, "the file is empty; expected a header")])
    columns: list[str] = []
    spelled: dict[str, str] = {}
    for title in header:
        name = _canonical(title)
        if name is None:
            issues.append(
                HrIssue(source, 1, repr(title.strip()), f"unknown column; expected {_expected()}")
            )
        elif name in spelled:
            issues.append(HrIssue(source, 1, title.strip(), f"repeats column {spelled[name]!r}"))
        else:
            spelled[name] = title.strip()
        columns.append(name or "")
    if issues:
        raise HrImportError(issues)
    raw_rows: list[tuple[int, dict[str, Any]]] = []
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(columns):
            issues.append(
                HrIssue(
                    source,
                    start,
                    None,
                    f"{len(values)} values, but the header has "
                    f"{len(columns)} columns; check for a stray comma or a missing quote",
                )
            )
            continue
        raw_rows.append((start, dict(zip(columns, values, strict=True))))
    return _validate(raw_rows, issues, source, base_dir, spelled)


def parse_hr_json(text: str, *, source: str, base_dir: Path) -> HrExport:
    text = text.removeprefix("\ufeff")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HrImportError(
            [HrIssue(source, exc.lineno, None, f"not valid JSON: {exc.msg} (column {exc.colno})")]
        ) from exc
    start = len(text) - len(text.lstrip())
    if isinstance(document, dict):
        members = dict(object_members(text, start))
        try:
            _JsonExport.model_validate(document)
        except ValidationError as exc:
            top: list[HrIssue] = []
            for err in exc.errors():
                key = str(err["loc"][0])
                message = _message(err)
                if err["type"] == "extra_forbidden":
                    message = "unknown key; expected source, exported_at and employees"
                top.append(HrIssue(source, line_at(text, members.get(key, start)), key, message))
            raise HrImportError(sorted(top, key=lambda issue: issue.line or 0)) from exc
        start = members["employees"]
    elif not isinstance(document, list):
        raise HrImportError(
            [HrIssue(source, 1, None, 'expected a list of employees or {"employees": [...]}')]
        )
    raw_rows: list[tuple[int, dict[str, Any]]] = []
    issues: list[HrIssue] = []
    for number, (offset, value) in enumerate(array_items(text, start), start=1):
        line = line_at(text, offset)
        if not isinstance(value, dict):
            issues.append(HrIssue(source, line, None, f"record {number} is not an object"))
            continue
        raw_rows.append((line, value))
    return _validate(raw_rows, issues, source, base_dir, {})


def _validate(
    raw_rows: list[tuple[int, dict[str, Any]]],
    issues: list[HrIssue],
    source: str,
    base_dir: Path,
    spelled: dict[str, str],
) -> HrExport:
    entries: list[HrEntry] = []
    seen: dict[str, int] = {}
    for line, row in raw_rows:
        try:
            record = HrRecord.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err["loc"]
                name = str(loc[0]) if loc else None
                if name is None and err["type"] == "value_error":
                    name, _, _ = _message(err).partition(":")  # model checks name their field
                issues.append(
                    HrIssue(source, line, _field(name, spelled), _message(err, strip=name))
                )
            continue
        previous = seen.setdefault(record.employee_id, line)
        if previous != line:
            issues.append(
                HrIssue(
                    source,
                    line,
                    _field("employee_id", spelled),
                    f"{record.employee_id} already appears on line {previous}; "
                    "list each person once",
                )
            )
            continue
        portrait = b""
        if record.portrait is not None:
            try:
                portrait = _read_portrait(base_dir / record.portrait)
            except ValueError as exc:
                issues.append(HrIssue(source, line, _field("portrait", spelled), str(exc)))
                continue
        entries.append(HrEntry(line, record, portrait))
    if issues:
        raise HrImportError(sorted(issues, key=lambda issue: issue.line or 0))
    return HrExport(source, entries)


def _read_portrait(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"cannot read {path}: {exc.strerror}; give a path relative to the export"
        ) from exc
    if not data.startswith(_JPEG_MAGIC):
        raise ValueError(f"{path} is not a JPEG or JPEG 2000 image")
    if len(data) > MAX_PORTRAIT_BYTES:
        raise ValueError(f"{path} is {len(data)} bytes; keep portraits under {MAX_PORTRAIT_BYTES}")
    return data


def _canonical(title: str) -> str | None:
    title = title.strip()
    if title.lower() in FIELDS:
        return title.lower()
    return KOREAN_HEADERS.get(title.replace(" ", ""))


def _expected() -> str:
    korean: dict[str, list[str]] = {}
    for header, name in KOREAN_HEADERS.items():
        korean.setdefault(name, []).append(header)
    return ", ".join(f"{name} ({'/'.join(korean[name])})" for name in FIELDS)


def _field(name: str | None, spelled: dict[str, str]) -> str | None:
    return None if name is None else spelled.get(name, name)


def _message(err: Any, strip: str | None = None) -> str:
    if err["type"] == "value_error":
        text = str(err["ctx"]["error"])
        if strip and text.startswith(f"{strip}: "):
            text = text[len(strip) + 2 :]
    elif err["type"] == "missing":
        text = "missing; every record needs it"
    elif err["type"] == "extra_forbidden":
        text = f"unknown field; expected one of {', '.join(FIELDS)}"
    else:
        text = str(err["msg"])
    return text
