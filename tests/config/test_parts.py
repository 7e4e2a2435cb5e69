"""The small parts: nfcpy device strings, the TOML line scan, pin ranges."""

from __future__ import annotations

import pytest

from gateway.config.devices import device_matches_model, parse_nfc_device
from gateway.config.pins import ranges
from gateway.config.toml_lines import LineMap


@pytest.mark.parametrize(
    ("text", "bus", "usb_id", "header_uart"),
    [
        ("usb", "usb", None, False),
        ("usb:072f:2200", "usb", "072f:2200", False),
        ("usb:054C:06C3", "usb", "054c:06c3", False),
        ("usb:001:023", "usb", None, False),  # bus:device
        ("tty:AMA0:pn532", "tty", None, True),
        ("tty:serial0:pn532", "tty", None, True),
        ("tty:USB0:pn532", "tty", None, False),
        ("udp:127.0.0.1:50000", "udp", None, False),
        ("udp", "udp", None, False),
    ],
)
def test_device_strings(text: str, bus: str, usb_id: str | None, header_uart: bool) -> None:
    device = parse_nfc_device(text)
    assert (device.bus, device.usb_id, device.on_header_uart) == (bus, usb_id, header_uart)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("/dev/ttyAMA0", "is not an nfcpy device path"),
        ("tty:AMA0:pn999", "unknown serial driver 'pn999'"),
        ("udp:127.0.0.1:70000", "out of range"),
        ("usb:72f:2200:1", "is not an nfcpy device path"),
    ],
)
def test_bad_device_strings(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_nfc_device(text)


def test_device_fits_model() -> None:
    assert device_matches_model(parse_nfc_device("usb:072f:2200"), "acr122u") is None
    assert device_matches_model(parse_nfc_device("usb:054c:06c1"), "rcs380") is None
    assert device_matches_model(parse_nfc_device("udp:127.0.0.1:1"), "pn532") is None
    assert device_matches_model(parse_nfc_device("usb"), "rcs380") is None
    assert "tty:PORT:pn532" in str(device_matches_model(parse_nfc_device("usb"), "pn532"))
    assert "USB reader" in str(device_matches_model(parse_nfc_device("tty:S0:pn532"), "acr122u"))


def test_line_map() -> None:
    text = "\n".join(
        [
            'profile = "x"',  # 1
            "[node]",  # 2
            'site = "a"  # a comment',  # 3
            "[door]",  # 4
            '"lock_type" = "fail-safe"',  # 5
            "a.b = 2",  # 6
            's = """',  # 7
            "hidden = 3",  # 8: inside a string
            '"""',  # 9
            "uart = { txd = 14, rxd = 15 }",  # 10
            "[[lanes]]",  # 11
            "k = 1",  # 12
            "[[lanes]]",  # 13
            "k = 2",  # 14
        ]
    )
    lines = LineMap(text)
    assert lines.line_for(("node", "site")) == (3, True)
    assert lines.line_for(("door", "lock_type")) == (5, True)
    assert lines.line_for(("door", "a", "b")) == (6, True)
    assert lines.line_for(("door", "hidden")) == (4, False)
    assert lines.line_for(("door", "uart", "rxd")) == (10, True)
    assert lines.line_for(("lanes", 1, "k")) == (14, True)
    assert lines.line_for(("door", "missing")) == (4, False)
    assert lines.line_for(("nowhere",)) == (None, False)


def test_ranges() -> None:
    assert ranges([7, 2, 3, 4, 9, 10, 12]) == "2-4, 7, 9-10, 12"
    assert ranges([]) == ""
