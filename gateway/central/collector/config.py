"""``gateway collector --config F``: the TOML file, its pydantic sections, and the node keys.

Every section forbids unknown keys; problems come back as
:class:`~gateway.config.findings.ConfigError` naming the file, the line, the key
and a hint (the same loader and messages as the node config).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from gateway.central.viewer.serve import ViewerSection
from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import read_toml, validate

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal[5, 311] = Field(default=5, description="MQTT 5 (Mosquitto) or 3.1.1")
    client_id: str = Field(default="collector-1", min_length=1, max_length=64)
    share_group: Ident | None = Field(
        default=None,
        description="MQTT 5 only: several collectors split the events as $share/<group>/…; "
        "unset: one collector, a plain subscription (docs/collector.md on broker restarts)",
    )
    site: Ident | None = Field(default=None, description="subscribe to one site; None: every site")
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    keepalive_s: int = Field(default=30, ge=5)


class StoreSection(Section):
    url: str = Field(
        default="sqlite:collector.sqlite",
        description="sqlite:PATH (relative to the config file) or postgresql://user@host/db",
        pattern=r"^(sqlite:|postgres(ql)?://)",
    )
    max_batch_messages: int = Field(
        default=100, ge=1, description="MQTT messages (each up to 500 events) per commit"
    )


class RetentionSection(Section):
    events_days: int = Field(default=365, ge=1)
    purge_interval_s: float = Field(default=3600.0, gt=0)


class AlarmSection(Section):
    heartbeat_interval_s: float = Field(default=30.0, gt=0)
    offline_after_missed: int = Field(default=3, ge=1, description="heartbeats missed = offline")
    denial_burst_count: int = Field(default=5, ge=2)
    denial_burst_window_s: float = Field(default=60.0, gt=0)
    walking_speed_m_s: float = Field(default=2.0, gt=0, description="a brisk walk, generous")


class IntegritySection(Section):
    signatures: Literal["every_event", "batch_tail"] = Field(
        default="batch_tail",
        description="every_event: verify each event's signature; batch_tail: every hash, "
        "and the last event's signature, which covers the linked batch (docs/collector.md)",
    )


class BuildingSection(Section):
    name: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class ZoneSection(Section):
    building: Ident
    parent: Ident | None = Field(default=None, description="the zone an exit leads back into")


class DistanceSection(Section):
    a: Ident
    b: Ident
    meters: float = Field(gt=0)


class NodeSection(Section):
    public_key: str = Field(
        min_length=1, description="raw 32-byte Ed25519 key, base64url; or a path to one"
    )
    site: Ident | None = None


class CollectorConfig(Section):
    mqtt: MqttSection = MqttSection()
    store: StoreSection = StoreSection()
    retention: RetentionSection = RetentionSection()
    alarms: AlarmSection = AlarmSection()
    integrity: IntegritySection = IntegritySection()
    buildings: dict[Ident, BuildingSection] = Field(default_factory=dict)
    zones: dict[Ident, ZoneSection] = Field(default_factory=dict)
    distances: list[DistanceSection] = Field(default_factory=list)
    nodes: dict[Ident, NodeSection] = Field(default_factory=dict)
    viewer: ViewerSection | None = None  # the web viewer, served in the collector's process


@dataclass(frozen=True)
class Site:
    """The collector's view of the site map: zones to buildings, distances between them."""

    zone_building: dict[str, str]
    zone_parent: dict[str, str | None]
    coordinates: dict[str, tuple[float, float]]
    distances: dict[frozenset[str], float]

    def building_of(self, zone: str | None) -> str | None:
        return None if zone is None else self.zone_building.get(zone)

    def meters_between(self, a: str, b: str) -> float | None:
        """Configured distance, else great-circle from coordinates; None if unknown."""
        if a == b:
            return 0.0
        if (given := self.distances.get(frozenset((a, b)))) is not None:
            return given
        if a in self.coordinates and b in self.coordinates:
            return _haversine_m(self.coordinates[a], self.coordinates[b])
        return None


@dataclass(frozen=True)
class LoadedCollector:
    path: Path
    config: CollectorConfig
    keys: dict[str, Ed25519PublicKey]
    site: Site

    @property
    def store_url(self) -> str:
        return self.config.store.url


def _haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def parse_public_key(text: str, base: Path) -> Ed25519PublicKey:
    """A raw 32-byte key in base64url, or a file holding one (raw bytes or base64url text)."""
    raw = _b64_key(text.strip())
    if raw is None:
        path = Path(text)
        path = path if path.is_absolute() else base / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"not a base64url key and not a readable file: {exc}") from exc
        raw = data if len(data) == 32 else _b64_key(data.decode("ascii", "replace").strip())
        if raw is None:
            raise ValueError(f"{path} holds neither 32 raw bytes nor a base64url key")
    return Ed25519PublicKey.from_public_bytes(raw)


def _b64_key(text: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def load_collector_config(path: Path) -> LoadedCollector:
    source = read_toml(path)
    config = validate(CollectorConfig, source)
    findings: list[Finding] = []
    keys: dict[str, Ed25519PublicKey] = {}
    for node, section in config.nodes.items():
        try:
            keys[node] = parse_public_key(section.public_key, path.parent)
        except ValueError as exc:
            line, _ = source.lines.line_for(("nodes", node, "public_key"))
            findings.append(
                Finding(
                    path, line, f"nodes.{node}.public_key", str(exc),
                    "give the node's raw Ed25519 public key as base64url (43 characters), "
                    "or a path to a file with it",
                )
            )  # fmt: skip
    for name, zone in config.zones.items():
        if zone.building not in config.buildings:
            line, _ = source.lines.line_for(("zones", name, "building"))
            findings.append(
                Finding(
                    path, line, f"zones.{name}.building",
                    f"no building {zone.building!r} under [buildings]",
                    f"add [buildings.{zone.building}] or fix the name",
                )
            )  # fmt: skip
    if findings:
        raise ConfigError(findings)
    site = Site(
        zone_building={z: s.building for z, s in config.zones.items()},
        zone_parent={z: s.parent for z, s in config.zones.items()},
        coordinates={
            b: (s.lat, s.lon)
            for b, s in config.buildings.items()
            if s.lat is not None and s.lon is not None
        },
        distances={frozenset((d.a, d.b)): d.meters for d in config.distances},
    )
    return LoadedCollector(path, config, keys, site)
