"""Versioned schema steps per engine. Append a step to change the schema; never edit one.

``schema_version`` records each applied step, so ``migrate()`` from empty and
re-running it on a current database are both safe.
"""

from __future__ import annotations

from typing import Literal

Engine = Literal["sqlite", "postgres"]

_EVENT_INDEXES = [
    "CREATE INDEX IF NOT EXISTS events_at ON events (at, id)",
    "CREATE INDEX IF NOT EXISTS events_door_at ON events (door, at)",
    "CREATE INDEX IF NOT EXISTS events_holder_at ON events (holder_id, at)",
    "CREATE INDEX IF NOT EXISTS events_serial_at ON events (credential_serial, at)",
    "CREATE INDEX IF NOT EXISTS events_building_at ON events (building, at)",
    "CREATE INDEX IF NOT EXISTS events_org_at ON events (organization_code, at)",
]
_ALARM_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS alarms_open_key ON alarms (key)"
    " WHERE cleared_at IS NULL AND acknowledged_at IS NULL"
)


def _v1(engine: Engine) -> list[str]:
    sqlite = engine == "sqlite"
    pk = "INTEGER PRIMARY KEY" if sqlite else "BIGSERIAL PRIMARY KEY"
    ts = "TEXT" if sqlite else "TIMESTAMPTZ"
    js = "TEXT" if sqlite else "JSONB"
    flag = "INTEGER" if sqlite else "BOOLEAN"
    blob = "BLOB" if sqlite else "BYTEA"
    return [
        f"""CREATE TABLE events (
            id {pk}, site TEXT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL,
            at {ts} NOT NULL, kind TEXT NOT NULL, payload {js} NOT NULL,
            hash TEXT NOT NULL, prev_hash TEXT NOT NULL, sig TEXT NOT NULL,
            received_at {ts} NOT NULL, door TEXT, zone TEXT, building TEXT, holder_id TEXT,
            credential_serial TEXT, organization_code TEXT, granted {flag}, reason TEXT,
            is_alarm {flag} NOT NULL, UNIQUE (node, seq))""",
        *_EVENT_INDEXES,
        f"""CREATE TABLE alarms (
            id {pk}, kind TEXT NOT NULL, severity TEXT NOT NULL, key TEXT NOT NULL,
            site TEXT, node TEXT, door TEXT, detail {js} NOT NULL, raised_at {ts} NOT NULL,
            cleared_at {ts}, acknowledged_by TEXT, acknowledged_at {ts}, comment TEXT)""",
        _ALARM_INDEX,
        f"""CREATE TABLE chains (
            node TEXT PRIMARY KEY, head_seq BIGINT NOT NULL, head_hash TEXT NOT NULL,
            gaps {js} NOT NULL)""",
        f"""CREATE TABLE nodes (
            node TEXT PRIMARY KEY, site TEXT NOT NULL, online {flag},
            availability_at {ts}, last_heartbeat_at {ts}, heartbeat {js},
            last_event_at {ts}, last_seq BIGINT)""",
        f"""CREATE TABLE presence (
            building TEXT NOT NULL, holder_id TEXT NOT NULL, zone TEXT, door TEXT,
            node TEXT NOT NULL, since {ts} NOT NULL, organization_code TEXT,
            PRIMARY KEY (building, holder_id))""",
        f"""CREATE TABLE quarantine (
            id {pk}, received_at {ts} NOT NULL, topic TEXT NOT NULL, node TEXT,
            reason TEXT NOT NULL, raw {blob} NOT NULL)""",
    ]


def steps(engine: Engine) -> list[tuple[int, list[str]]]:
    """``(version, statements)`` in order; each step runs in its own transaction."""
    return [(1, _v1(engine))]


SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)"
)
