"""The final pass: after every section validates, check the pins against the board.

It rejects a pin the board lacks and a pin with two functions: two door
functions, a door function on the reader's UART, or one on a relay board channel
that is not the lock relay's. Each issue names the pin and both functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.config.models import REQUIRED_PINS, NodeConfig, PinsSection
from gateway.config.profiles import FirmwareProfile

Origin = Literal["node", "profile"]
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class PinUse:
    function: str
    pin: int
    origin: Origin
    key: KeyPath


@dataclass(frozen=True)
class PinIssue:
    origin: Origin
    key: KeyPath
    message: str
    hint: str


def ranges(pins: Iterable[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``2-4, 7``."""
    out: list[str] = []
    run: list[int] = []
    for pin in sorted(set(pins)):
        if run and pin != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(pin)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def effective_pins(profile: FirmwareProfile, node: PinsSection | None) -> dict[str, PinUse]:
    """The profile's default pins with the node's overrides on top."""
    uses: dict[str, PinUse] = {}
    for origin, section in (("profile", profile.pins), ("node", node)):
        if section is None:
            continue
        for name, pin in section.model_dump(exclude_none=True).items():
            uses[name] = PinUse(name, pin, origin, ("pins", name))  # type: ignore[arg-type]
    return uses


def _claims(profile: FirmwareProfile, lock_pin: int | None) -> list[PinUse]:
    claims: list[PinUse] = []
    reader = profile.reader
    if reader.uart is not None:
        label = f"the {reader.model.upper()} reader's UART"
        claims.append(PinUse(f"{label} TXD", reader.uart.txd, "profile", ("reader", "uart", "txd")))
        claims.append(PinUse(f"{label} RXD", reader.uart.rxd, "profile", ("reader", "uart", "rxd")))
    if profile.relay_board is not None:
        for i, pin in enumerate(profile.relay_board.channels):
            if pin != lock_pin:
                label = f"channel {i + 1} of the {profile.relay_board.model}"
                claims.append(PinUse(label, pin, "profile", ("relay_board", "channels", i)))
    return claims


def _describe(use: PinUse, profile: FirmwareProfile) -> str:
    if use.origin == "profile":
        return f"{use.function} (from profile {profile.name!r})"
    return use.function


def final_pass(profile: FirmwareProfile, node: NodeConfig | None = None) -> list[PinIssue]:
    """Check one profile alone (``node`` None) or a node config on its profile."""
    issues: list[PinIssue] = []
    uses = effective_pins(profile, node.pins if node else None)
    lock = uses.get("lock_relay")
    claims = _claims(profile, lock.pin if lock else None)
    board = profile.board
    usable = set(board.gpio)
    taken = {u.pin for u in uses.values()} | {c.pin for c in claims}

    def free() -> str:
        spare = sorted(usable - taken)
        return ranges(spare) if spare else "none left"

    for use in [*claims, *uses.values()]:
        if use.pin not in usable:
            issues.append(
                PinIssue(
                    use.origin,
                    use.key,
                    f"BCM {use.pin} ({use.function}) is not a usable GPIO on the {board.model}",
                    f"the board has BCM {ranges(usable)}; free now: {free()}",
                )
            )

    by_pin: dict[int, list[PinUse]] = {}
    for use in [*claims, *uses.values()]:
        by_pin.setdefault(use.pin, []).append(use)
    for pin, group in sorted(by_pin.items()):
        if len(group) < 2:
            continue
        # Report where the fix belongs: the last use, preferring the node's own file.
        target = next((u for u in reversed(group) if u.origin == "node"), group[-1])
        others = [u for u in group if u is not target]
        names = " and ".join(_describe(u, profile) for u in others)
        issues.append(
            PinIssue(
                target.origin,
                target.key,
                f"BCM {pin} has two functions: {target.function} and {names}",
                f"move {target.function} to a free pin: {free()}",
            )
        )

    if node is None:
        return issues
    for name in REQUIRED_PINS:
        if name not in uses:
            issues.append(
                PinIssue(
                    "node",
                    ("pins",),
                    f"no pin for {name}: neither the node nor the profile sets it",
                    f"add '{name} = <BCM>' under [pins]; free pins: {free()}",
                )
            )
    if node.door.mode == "speed-gate" and "passage_sensor" not in uses:
        issues.append(
            PinIssue(
                "node",
                ("door", "mode"),
                "mode 'speed-gate' senses each passage, but no pin is set",
                f"add 'passage_sensor = <BCM>' under [pins] (free: {free()}), or use mode = 'door'",
            )
        )
    on_board = (
        profile.relay_board is not None
        and lock is not None
        and (lock.pin in profile.relay_board.channels)
    )
    if lock is not None and not on_board and node.door.relay_polarity is None:
        issues.append(
            PinIssue(
                "node",
                ("door",),
                f"the lock relay on BCM {lock.pin} is not on the profile's relay board, "
                "so its polarity is unknown",
                "add relay_polarity = 'active-high' or 'active-low' under [door]",
            )
        )
    return issues


def relay_active_high(profile: FirmwareProfile, node: NodeConfig) -> bool:
    """The lock relay's polarity: the node's word, else its relay board's."""
    if node.door.relay_polarity is not None:
        return node.door.relay_polarity == "active-high"
    return profile.relay_board.active_high if profile.relay_board is not None else True
