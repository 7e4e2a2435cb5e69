"""Firmware profiles: the shipped ones load and pass the final pass; broken ones explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, FirmwareProfile, load_profile_file
from gateway.config.pins import final_pass
from tests.config.conftest import FIXTURES, PROFILES

SHIPPED = sorted(PROFILES.glob("*.toml"))


def test_profiles_are_shipped_for_each_board_and_reader() -> None:
    profiles = [load_profile_file(p) for p in SHIPPED]
    assert {p.board.kind for p in profiles} == {"pi4", "pi5", "pizero2w"}
    assert {p.reader.model for p in profiles} == {"pn532", "acr122u", "rcs380"}
    assert all(p.relay_board is not None for p in profiles)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profile(path: Path) -> None:
    profile = load_profile_file(path)
    assert profile.name == path.stem
    assert 28 not in profile.board.gpio
    assert final_pass(profile) == []
    relay = profile.relay_board
    assert relay is not None
    assert (relay.channels, relay.active_high) == ([26, 20, 21], False)
    assert profile.pins.lock_relay == relay.channels[0]
    if profile.reader.model == "pn532":
        assert profile.reader.uart is not None
        assert (profile.reader.uart.txd, profile.reader.uart.rxd) == (14, 15)
    else:
        assert profile.reader.uart is None
        assert profile.reader.device.startswith("usb:")


# fixture, line, key path, words in the message, words in the hint
INVALID = [
    ("pi4-bad-gpio", 12, "board.gpio", "lists BCM 28, which a pi4 header lacks", ""),
    (
        "pi4-misnamed",
        5,
        "name",
        "profile name 'pi4-pn532' differs from the file name",
        "set name = 'pi4-misnamed'",
    ),
    (
        "pi5-pn532-no-uart",
        16,
        "reader.device",
        "'tty:AMA0:pn532' is the header UART; add 'uart = { txd = 14, rxd = 15 }'",
        "",
    ),
    (
        "pi5-acr122u-wrong-id",
        15,
        "reader.device",
        "usb id 054c:06c3 is not an ACR122U; use usb:072f:2200",
        "",
    ),
    (
        "pizero2w-led-on-relay",
        31,
        "pins.led_red",
        "BCM 20 has two functions: led_red and channel 2 of the Waveshare RPi Relay Board",
        "move led_red to a free pin",
    ),
    (
        "pizero2w-typo",
        17,
        "relay_bord",
        "unknown section [relay_bord]",
        "did you mean 'relay_board'?",
    ),
]


@pytest.mark.parametrize(
    ("name", "line", "key", "message", "hint"), INVALID, ids=[row[0] for row in INVALID]
)
def test_invalid_profiles_explain_themselves(
    name: str, line: int, key: str, message: str, hint: str
) -> None:
    path = FIXTURES / "profiles" / f"{name}.toml"
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    finding = next(f for f in caught.value.findings if f.key == key)
    assert (finding.file, finding.line, finding.key) == (path, line, key)
    assert message in finding.message
    assert hint in finding.hint


def test_uart_pins_off_the_board_are_caught() -> None:
    data = FirmwareProfile.model_validate(
        {
            "name": "x",
            "board": {"kind": "pi4", "model": "Pi 4", "gpio": list(range(2, 14))},
            "reader": {
                "model": "pn532",
                "device": "tty:AMA0:pn532",
                "uart": {"txd": 14, "rxd": 15},
            },
        }
    )
    issues = final_pass(data)
    assert [i.key for i in issues] == [("reader", "uart", "txd"), ("reader", "uart", "rxd")]
    assert "BCM 14 (the PN532 reader's UART TXD) is not a usable GPIO" in issues[0].message
