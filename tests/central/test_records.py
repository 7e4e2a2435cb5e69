"""Rows and records: each column list names its record's fields, in the record's order."""

from __future__ import annotations

from dataclasses import fields

import pytest

from gateway.central.authority import records

# Where the database spells a field otherwise.
_COLUMN_FOR_FIELD = {"status_idx": "status_index", "iat": "issued_at", "exp": "expires_at"}


@pytest.mark.parametrize(
    ("columns", "record"),
    [
        (records.SIGNER_COLUMNS, records.SignerRecord),
        (records.HOLDER_COLUMNS, records.HolderRecord),
        (records.CREDENTIAL_COLUMNS, records.CredentialRecord),
        (records.PUBLISHED_COLUMNS, records.PublishedToken),
        (records.AUDIT_COLUMNS, records.AuditEntry),
    ],
)
def test_columns_follow_the_record(columns: str, record: type) -> None:
    names = [_COLUMN_FOR_FIELD.get(name.strip(), name.strip()) for name in columns.split(",")]
    assert names == [field.name for field in fields(record)]


def test_null_stays_none_and_values_are_converted() -> None:
    row = (1, "document", "DS 1", "ab", *["2026-03-02T08:50:00.000000+00:00"] * 3, 1, b"pem")
    signer = records.signer_from_row(row)
    assert signer.active is True
    assert signer.not_after.year == 2026
    holder = records.holder_from_row(
        ("1", "김민준", 0, "행정안전부", "1741000", "주무관", None, "044-205-1234", None, "active")
        + ("2026-03-02T08:50:00.000000+00:00",) * 2
        + (None,)
    )
    assert holder.foreign_national is False
    assert holder.portrait is None
    assert holder.retired_at is None
    assert holder.state is records.HolderState.ACTIVE
