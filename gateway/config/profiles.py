"""Firmware profiles: a board, its NFC reader and port, a relay board, and default pins.

Profiles live in ``firmware_profiles/NAME.toml``; a node config names one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from gateway.config.devices import ReaderModel, device_matches_model, parse_nfc_device
from gateway.config.models import Bcm, PinsSection

BoardKind = Literal["pi4", "pi5", "pizero2w"]
# All three expose BCM 0-27 on the 40-pin header; 0 and 1 are the HAT ID EEPROM's I2C.
HEADER_GPIO: dict[BoardKind, frozenset[int]] = {
    "pi4": frozenset(range(28)),
    "pi5": frozenset(range(28)),
    "pizero2w": frozenset(range(28)),
}
PROFILES_ENV = "GATEWAY_FIRMWARE_PROFILES"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoardSection(_Strict):
    kind: BoardKind = Field(description="'pi4', 'pi5' or 'pizero2w'")
    model: str = Field(min_length=1, description="the board's full name")
    gpio: list[Bcm] = Field(min_length=1, description="usable BCM GPIO numbers on the header")

    @field_validator("gpio")
    @classmethod
    def _on_header(cls, gpio: list[int], info: ValidationInfo) -> list[int]:
        kind: BoardKind | None = info.data.get("kind")
        if kind is None:
            return gpio
        header = HEADER_GPIO[kind]
        if missing := sorted(set(gpio) - header):
            raise ValueError(
                f"lists BCM {', '.join(map(str, missing))}, which a {kind} header lacks; "
                f"its header has BCM {min(header)}-{max(header)}"
            )
        if dups := sorted({p for p in gpio if gpio.count(p) > 1}):
            raise ValueError(f"lists BCM {', '.join(map(str, dups))} more than once")
        return gpio


class UartPins(_Strict):
    txd: Bcm = Field(description="the Pi's TXD, BCM 14 on the header")
    rxd: Bcm = Field(description="the Pi's RXD, BCM 15 on the header")


class ReaderSection(_Strict):
    # Field order matters: ``device`` is checked last, against ``model`` and ``uart``.
    model: ReaderModel = Field(description="'pn532', 'acr122u' or 'rcs380'")
    uart: UartPins | None = Field(default=None, description="header UART pins, PN532 only")
    device: str = Field(description="nfcpy device path", examples=["tty:AMA0:pn532"])

    @field_validator("device")
    @classmethod
    def _device(cls, value: str, info: ValidationInfo) -> str:
        device = parse_nfc_device(value)
        model: ReaderModel | None = info.data.get("model")
        if model is not None and (why := device_matches_model(device, model)) is not None:
            raise ValueError(f"{value!r} does not fit model {model!r}: {why}")
        uart = info.data.get("uart")
        if device.on_header_uart and uart is None:
            raise ValueError(
                f"{value!r} is the header UART; add 'uart = {{ txd = 14, rxd = 15 }}' "
                "so the final pass keeps those pins for the reader"
            )
        if device.bus == "usb" and uart is not None:
            raise ValueError("a USB reader uses no GPIO; remove 'uart'")
        return value


class RelayBoardSection(_Strict):
    model: str = Field(min_length=1, description="the relay board's name")
    active_high: bool = Field(description="false when a LOW output energises the relay")
    channels: list[Bcm] = Field(min_length=1, description="BCM pin of channel 1, 2, ...")


class FirmwareProfile(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the file's stem")
    description: str = ""
    board: BoardSection
    reader: ReaderSection
    relay_board: RelayBoardSection | None = None
    pins: PinsSection = PinsSection()


def default_profiles_dir() -> Path:
    """``$GATEWAY_FIRMWARE_PROFILES``, else the source tree's ``firmware_profiles/``."""
    if env := os.environ.get(PROFILES_ENV):
        return Path(env)
    return Path(__file__).resolve().parents[2] / "firmware_profiles"


def available_profiles(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []
