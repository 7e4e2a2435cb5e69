"""HR exports: the examples load, and every problem names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.central.authority.hr_import import HrImportError, load_hr_export

from .conftest import EXAMPLES

HEADER = "직원번호,성명,외국인,소속,기관코드,직급,대외직명,발급기관전화,사진\n"
GOOD = "17410231,김민준,N,행정안전부,1741000,행정사무관,,044-205-1135,\n"


def _csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "hr.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(HrImportError) as caught:
        load_hr_export(path)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("name", ["hr-export.csv", "hr-export.json"])
def test_examples_load(name: str) -> None:
    export = load_hr_export(EXAMPLES / name)
    records = [entry.record for entry in export.entries]
    assert len(records) == 12
    assert len({r.organization_code for r in records}) >= 4
    carter = next(r for r in records if r.name == "Emily Carter")
    assert carter.foreign_national
    assert carter.printed_position == "국제금융자문관"  # 대외직명 printed instead of the grade
    assert {"행정사무관", "주무관", "서기관"} <= {r.position for r in records}


def test_both_examples_say_the_same() -> None:
    csv_records = [e.record for e in load_hr_export(EXAMPLES / "hr-export.csv").entries]
    json_records = [e.record for e in load_hr_export(EXAMPLES / "hr-export.json").entries]
    assert csv_records == json_records


def test_english_headers_and_line_numbers(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "E1,홍길동,,행정안전부,1741000,주무관,,044-205-1234\n",
        "\n",
        'E2,"김 철수",,행정안전부,1741000,주무관,,044-205-1234\n',
        header="employee_id,name,foreign_national,organization,organization_code,position,"
        "external_title,office_phone\n",
    )
    export = load_hr_export(path)
    assert [(e.line, e.record.employee_id) for e in export.entries] == [(2, "E1"), (4, "E2")]


def test_bad_organization_code_names_file_line_and_field(tmp_path: Path) -> None:
    path = _csv(tmp_path, GOOD, "17410487,이서연,N,행정안전부,174100,주무관,,044-205-1135,\n")
    assert _problems(path) == [
        f"{path}, line 3, field 기관코드: '174100' is not a 행정표준기관코드; it has exactly "
        "7 digits, e.g. 1741000 for 행정안전부"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "17410487,,N,행정안전부,1741000,주무관,,044-205-1135,\n",  # no name
        "17410488,John Smith,N,행정안전부,1741000,주무관,,044-205-1135,\n",  # not flagged foreign
        "17410489,박지훈,N,행정안전부,1741000,주무관,,0442051135,\n",  # phone
        "17410490,정하은,아마도,행정안전부,1741000,주무관,,044-205-1135,\n",  # yes/no
        "17410491,최유진,N,행정안전부,1741000,주무관,,044-205-1135,face.jpg\n",  # no portrait
        GOOD,
        GOOD,  # the same person twice
        "1,2,3\n",  # too few values
    )
    problems = _problems(path)
    assert len(problems) == 7
    assert problems[0].startswith(f"{path}, line 2, field 성명: ")
    assert problems[1].startswith(f"{path}, line 3, field 성명: 'John Smith' is in English")
    assert "set foreign_national to Y" in problems[1]
    assert problems[2].startswith(f"{path}, line 4, field 발급기관전화: '0442051135'")
    assert "044-205-1234" in problems[2]
    assert problems[3].startswith(f"{path}, line 5, field 외국인: '아마도' is not a yes/no")
    assert problems[4].startswith(f"{path}, line 6, field 사진: cannot read")
    assert problems[5] == (
        f"{path}, line 8, field 직원번호: 17410231 already appears on line 7; list each person once"
    )
    assert problems[6].startswith(f"{path}, line 9: 3 values, but the header has 9 columns")


def test_unknown_column_is_named_with_what_is_expected(tmp_path: Path) -> None:
    path = _csv(tmp_path, header="직원번호,성명,부서\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}, line 1, field '부서': unknown column; expected employee_id")


def test_missing_column_is_reported_per_row(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "17410231,김민준,행정안전부,행정사무관,044-205-1135\n",
        header="직원번호,성명,소속,직급,발급기관전화\n",
    )
    assert _problems(path) == [
        f"{path}, line 2, field organization_code: missing; every record needs it"
    ]


def test_portrait_is_read_relative_to_the_export(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "kim.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    (tmp_path / "photos" / "lee.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    path = _csv(
        tmp_path,
        "17410231,김민준,N,행정안전부,1741000,행정사무관,,044-205-1135,photos/kim.jpg\n",
        "17410487,이서연,N,행정안전부,1741000,주무관,,044-205-1135,photos/lee.png\n",
    )
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}, line 3, field 사진: ")
    assert "not a JPEG" in problem
    path.write_text(
        HEADER + "17410231,김민준,N,행정안전부,1741000,행정사무관,,044-205-1135,photos/kim.jpg\n",
        encoding="utf-8",
    )
    (entry,) = load_hr_export(path).entries
    assert entry.portrait.startswith(b"\xff\xd8\xff")


def test_cp949_export_from_excel(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes((HEADER + GOOD).encode("cp949"))
    (entry,) = load_hr_export(path).entries
    assert entry.record.name == "김민준"


def test_json_errors_name_the_line_of_the_record(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "hr-export.json").read_text(encoding="utf-8"))
    document["employees"][2]["organization_code"] = 1741000
    document["employees"][4]["rank"] = "5급"
    path = tmp_path / "hr.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line == "    {"]

    problems = _problems(path)

    assert problems == [
        f"{path}, line {starts[2]}, field organization_code: 1741000 is a number; write the "
        'code as a string, "1741000"',
        f"{path}, line {starts[4]}, field rank: unknown field; expected one of employee_id, "
        "name, foreign_national, organization, organization_code, position, external_title, "
        "office_phone, portrait",
    ]


def test_json_syntax_and_shape_errors(tmp_path: Path) -> None:
    path = tmp_path / "hr.json"
    path.write_text('[\n  {"employee_id": "1",}\n]', encoding="utf-8")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}, line 2: not valid JSON")
    path.write_text('{\n  "source": "e-사람",\n  "staff": []\n}', encoding="utf-8")
    assert _problems(path) == [
        f"{path}, line 1, field employees: missing; every record needs it",
        f"{path}, line 3, field staff: unknown key; expected source, exported_at and employees",
    ]
    path.write_text('[\n  "17410231"\n]', encoding="utf-8")
    assert _problems(path) == [f"{path}, line 2: record 1 is not an object"]


def test_unreadable_file(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nope.csv") == [
        f"{tmp_path / 'nope.csv'}: cannot read: No such file or directory"
    ]
