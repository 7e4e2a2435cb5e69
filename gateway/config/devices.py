"""NFC device strings as nfcpy reads them: ``usb:072f:2200``, ``tty:AMA0:pn532``, ``udp:H:P``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ReaderModel = Literal["pn532", "acr122u", "rcs380"]

# USB ids nfcpy 1.0.4 maps to these drivers (its nfc/clf/device.py USB table).
USB_IDS: dict[str, ReaderModel] = {
    "072f:2200": "acr122u",
    "054c:06c3": "rcs380",
    "054c:06c1": "rcs380",
}
# The serial ports that are the 40-pin header's UART on a Raspberry Pi.
HEADER_UARTS = frozenset({"AMA0", "S0", "serial0"})

_USB = re.compile(r"^usb(?::(?P<a>[0-9a-fA-F]{3,4})(?::(?P<b>[0-9a-fA-F]{3,4}))?)?$")
_TTY = re.compile(r"^tty:(?P<port>[A-Za-z][A-Za-z0-9_-]*)(?::(?P<driver>[a-z0-9]+))?$")
_UDP = re.compile(r"^udp(?::(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?)?$")
TTY_DRIVERS = frozenset({"pn532", "pn533", "arygon", "rcs956"})


@dataclass(frozen=True)
class NfcDevice:
    bus: Literal["usb", "tty", "udp"]
    text: str
    usb_id: str | None = None
    port: str | None = None
    driver: str | None = None

    @property
    def on_header_uart(self) -> bool:
        return self.bus == "tty" and self.port in HEADER_UARTS


def parse_nfc_device(text: str) -> NfcDevice:
    """Parse an nfcpy path; raise ValueError with a fix in the message."""
    if match := _USB.match(text):
        a, b = match["a"], match["b"]
        usb_id = f"{a}:{b}".lower() if a and b and len(a) == 4 and len(b) == 4 else None
        return NfcDevice("usb", text, usb_id=usb_id)
    if match := _TTY.match(text):
        if match["driver"] and match["driver"] not in TTY_DRIVERS:
            known = ", ".join(sorted(TTY_DRIVERS))
            raise ValueError(
                f"unknown serial driver {match['driver']!r} in {text!r}; use one of {known}"
            )
        return NfcDevice("tty", text, port=match["port"], driver=match["driver"])
    if match := _UDP.match(text):
        port = match["port"]
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"UDP port {port} in {text!r} is out of range 1-65535")
        return NfcDevice("udp", text)
    raise ValueError(
        f"{text!r} is not an nfcpy device path; write it as 'usb:072f:2200' (USB vendor:product), "
        "'tty:AMA0:pn532' (serial port and driver) or 'udp:127.0.0.1:PORT' (simulator)"
    )


def device_matches_model(device: NfcDevice, model: ReaderModel) -> str | None:
    """None when ``device`` can be a ``model`` reader, else why not."""
    if device.bus == "udp":
        return None  # the simulator's radio stands in for any reader
    if model == "pn532":
        if device.bus != "tty" or device.driver != "pn532":
            return "a PN532 on a UART is addressed as 'tty:PORT:pn532', e.g. 'tty:AMA0:pn532'"
        return None
    if device.bus != "usb":
        return f"an {model.upper()} is a USB reader; address it as 'usb:VVVV:PPPP'"
    if device.usb_id is not None and USB_IDS.get(device.usb_id) != model:
        ids = ", ".join(f"usb:{k}" for k, v in USB_IDS.items() if v == model)
        return f"usb id {device.usb_id} is not an {model.upper()}; use {ids}"
    return None
