"""The node config, one pydantic model per TOML section, each with ``extra="forbid"``.

A node config names its firmware profile; the profile supplies the board, the
reader, the relay board and default pins, and the node's ``[pins]`` override them.
Cross-section checks (pins against the board, two functions on one pin, speed-gate
without a passage sensor) run afterwards in :mod:`gateway.config.pins`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.config.devices import parse_nfc_device

# An identity that is a whole MQTT topic level: no '/', '+', '#' and no spaces.
Ident = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", examples=["sejong-6", "gate-6-01"]),
]
# A BCM GPIO number. Whether the board has it is the final pass's question.
Bcm = Annotated[int, Field(ge=0, le=53, description="a BCM GPIO number, e.g. 17")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(Section):
    site: Ident = Field(description="the site, e.g. 'sejong-6'")
    node_id: Ident = Field(description="this gate node's id, e.g. 'gate-6-01'")
    reader_id: Ident = Field(description="the reader's id at this door, e.g. 'r1'")
    pin_factory: Literal["lgpio", "mock"] | None = Field(
        default=None,
        description="gpiozero pin factory; unset: GPIOZERO_PIN_FACTORY or gpiozero's default",
    )


class ReadersSection(Section):
    nfc: str | None = Field(
        default=None,
        description="nfcpy device path; unset: the profile's reader",
        examples=["usb:072f:2200", "tty:AMA0:pn532", "udp:127.0.0.1:50000"],
    )
    ble: bool = Field(default=True, description="offer BLE engagement (true or false)")

    @field_validator("nfc")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None:
            parse_nfc_device(value)
        return value


class DoorSection(Section):
    lock_type: Literal["fail-secure", "fail-safe"] = Field(
        description="'fail-secure' (strike: locked without power) or 'fail-safe' (maglock)"
    )
    # No default: which contact carries the lock decides which way it fails, and a
    # guess would be right only half the time.
    lock_contact: Literal["NO", "NC"] = Field(
        description="the relay contact the lock's supply runs through: 'NO' or 'NC'"
    )
    relay_polarity: Literal["active-high", "active-low"] | None = Field(
        default=None, description="unset: the relay board's polarity from the profile"
    )
    contact: Literal["NC", "NO"] = Field(
        default="NC", description="door contact when the door is closed: 'NC' or 'NO'"
    )
    unlock_seconds: float = Field(default=5.0, gt=0, le=60, description="seconds, 0 < s <= 60")
    held_open_seconds: float = Field(
        default=30.0, gt=0, le=600, description="seconds open before the held-open alarm"
    )
    mode: Literal["door", "speed-gate"] = Field(
        default="door", description="'door' or 'speed-gate' (one passage per grant)"
    )
    passage_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="speed-gate: seconds a grant waits for a passage"
    )
    egress: bool = Field(default=True, description="release on fire alarm (an egress door)")

    @field_validator("contact", "lock_contact", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def _pin(what: str) -> Any:
    return Field(default=None, description=f"BCM GPIO number of the {what}, e.g. 17")


class PinsSection(Section):
    """Door functions to BCM GPIO numbers. Unset: the profile's pin, or not fitted."""

    lock_relay: Bcm | None = _pin("lock relay output")
    door_contact: Bcm | None = _pin("door contact input")
    exit_button: Bcm | None = _pin("exit (REX) button input")
    tamper: Bcm | None = _pin("tamper switch input")
    fire_alarm: Bcm | None = _pin("fire-alarm input")
    led_red: Bcm | None = _pin("red LED output")
    led_green: Bcm | None = _pin("green LED output")
    buzzer: Bcm | None = _pin("buzzer output")
    passage_sensor: Bcm | None = _pin("speed-gate passage sensor input")


# A gate must be able to lock, to know the door is shut, and to show its verdict
# (the node refuses to start without them, so the check refuses the file first).
REQUIRED_PINS = ("lock_relay", "door_contact", "led_red", "led_green", "buzzer")


class PathsSection(Section):
    """Files the node reads; relative paths are taken from the config file's folder."""

    policy: Path = Field(description="the signed site policy document")
    policy_signer_cert: Path = Field(description="certificate that signs the policy document")
    trust_anchors: Path = Field(description="folder or bundle of issuer trust anchors")
    status_list_signer_cert: Path = Field(description="certificate that signs status lists")

    @field_validator("*")
    @classmethod
    def _not_empty(cls, value: Path) -> Path:
        if str(value) in {"", "."}:
            raise ValueError("is empty; give a file path, e.g. '/etc/gateway/policy.cbor'")
        return value


class MqttSection(Section):
    """The link to the centre. Without this section the node keeps every event in its outbox
    and syncs nothing: an island, for a bench or a first install."""

    host: str = Field(default="127.0.0.1", min_length=1, description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal[5, 311] = Field(
        default=5, description="5 (MQTT 5, Mosquitto) or 311 (MQTT 3.1.1, the embedded broker)"
    )
    username: str | None = Field(default=None, description="unset: the node id")
    password_file: Path | None = Field(
        default=None, description="a file holding the broker password (mode 0600)"
    )
    heartbeat_seconds: float = Field(default=30.0, ge=1, le=3600)
    batch_size: int = Field(default=100, ge=1, le=500, description="events per MQTT message")
    tls_ca_file: Path | None = Field(
        default=None, description="the site CA (PEM): set it to speak TLS, e.g. on port 8883"
    )
    tls_cert_file: Path | None = Field(
        default=None, description="this node's client certificate (PEM), if the broker asks"
    )
    tls_key_file: Path | None = Field(default=None, description="its private key (PEM, 0600)")

    @model_validator(mode="after")
    def _tls_coherent(self) -> MqttSection:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_cert_file is not None and self.tls_ca_file is None:
            raise ValueError("a client certificate needs tls_ca_file to check the broker")
        return self


class StateSection(Section):
    """Where the node keeps what must survive a restart (relative: from the config's folder)."""

    dir: Path = Field(
        default=Path("state"),
        description="outbox, node key, synced documents, command nonces; e.g. /var/lib/gateway",
    )
    durability: Literal["full", "normal"] = Field(
        default="full", description="SQLite synchronous for the outbox (docs/reliability.md)"
    )
    outbox_alarm_mib: float = Field(
        default=64.0, gt=0, le=4096, description="outbox size that raises an alarm (MiB)"
    )


class NodeConfig(Section):
    profile: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="a firmware profile's name: a file stem in firmware_profiles/",
        examples=["pi4-pn532-waveshare-relay"],
    )
    node: NodeSection
    readers: ReadersSection = ReadersSection()
    door: DoorSection
    pins: PinsSection = PinsSection()
    paths: PathsSection
    mqtt: MqttSection | None = None
    state: StateSection = StateSection()
