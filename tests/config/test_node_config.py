"""Node configs: a valid and an invalid fixture per section and per profile.

The messages are asserted whole enough (file, line, key path, hint) that they
stay helpful to the person editing the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_node_config
from gateway.config.loader import missing_files
from tests.config.conftest import EXAMPLES, FIXTURES

VALID = sorted((FIXTURES / "valid").glob("*.toml"))
SHIPPED = sorted(EXAMPLES.glob("node-*.toml"))


@pytest.mark.parametrize("path", VALID + SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_configs_load(path: Path) -> None:
    node = load_node_config(path)
    assert node.pins["lock_relay"] in node.profile.board.gpio
    assert node.nfc_device


def test_every_profile_has_a_shipped_example() -> None:
    profiles = {load_node_config(p).profile.name for p in SHIPPED}
    assert profiles == {p.stem for p in (EXAMPLES.parents[1] / "firmware_profiles").glob("*.toml")}


def test_resolved_values() -> None:
    door = load_node_config(FIXTURES / "valid" / "door.toml")
    assert door.config.door.mode == "speed-gate"
    assert door.config.door.contact == "NO"  # written "no"
    assert door.relay_active_high is False
    pins = load_node_config(FIXTURES / "valid" / "pins.toml")
    assert pins.pins["lock_relay"] == 12
    assert pins.relay_active_high is True
    readers = load_node_config(FIXTURES / "valid" / "readers.toml")
    assert readers.nfc_device == "udp:127.0.0.1:50000"
    assert readers.config.readers.ble is False
    paths = load_node_config(FIXTURES / "valid" / "node.toml")
    assert paths.files["policy"] == FIXTURES / "valid" / "policy.cbor"
    assert paths.config.node.pin_factory == "mock"
    absolute = load_node_config(FIXTURES / "valid" / "paths.toml")
    assert absolute.files["policy"] == Path("/etc/gateway/policy.cbor")


# fixture, line, key path, words in the message, words in the hint
INVALID = [
    ("node", 5, "node.site", "'Sejong 6' is not a valid name", "e.g. 'sejong-6'"),
    ("readers", 10, "readers.nfc", "'/dev/ttyAMA0' is not an nfcpy device path", ""),
    (
        "readers-model",
        10,
        "readers.nfc",
        "'usb:072f:2200' is not the profile's PN532 reader",
        "'tty:serial0:pn532'",
    ),
    (
        "door",
        14,
        "door.unlcok_seconds",
        "unknown key 'unlcok_seconds' in [door]",
        "did you mean 'unlock_seconds'?",
    ),
    ("door-lock-type", 12, "door.lock_type", "(got 'fail-secur')", "did you mean 'fail-secure'?"),
    ("door-range", 14, "door.unlock_seconds", "greater than 0 (got 0)", "0 < s <= 60"),
    (
        "pins",
        16,
        "pins.led_red",
        "BCM 14 has two functions: led_red and the PN532 reader's UART TXD "
        "(from profile 'pi4-pn532-waveshare-relay')",
        "move led_red to a free pin: 2-4, 7-12",
    ),
    (
        "pins-board",
        16,
        "pins.led_red",
        "BCM 28 (led_red) is not a usable GPIO on the Raspberry Pi 4 Model B",
        "the board has BCM 2-27",
    ),
    (
        "pins-twice",
        16,
        "pins.buzzer",
        "BCM 5 has two functions: buzzer and door_contact",
        "move buzzer",
    ),
    (
        "pins-speed-gate",
        14,
        "door.mode",
        "'speed-gate' senses each passage",
        "add 'passage_sensor = <BCM>' under [pins]",
    ),
    (
        "pins-polarity",
        11,
        "door",
        "lock relay on BCM 12 is not on the profile's relay board",
        "relay_polarity = 'active-high' or 'active-low'",
    ),
    (
        "paths",
        17,
        "paths.status_list_signer_cert",
        "missing required key 'status_list_signer_cert'",
        "add 'status_list_signer_cert = ...' under [paths]",
    ),
    (
        "profile",
        2,
        "profile",
        "no firmware profile 'pi4-pn532-waveshare-rely'",
        "did you mean 'pi4-pn532-waveshare-relay'?",
    ),
    ("section", 9, "reader", "unknown section [reader]", "did you mean 'readers'?"),
    ("syntax", 7, "", "not valid TOML", "strings need quotes"),
    ("pi5-acr122u", 10, "readers.nfc", "an ACR122U is a USB reader", "'usb:072f:2200'"),
    (
        "pi5-pn532",
        16,
        "pins.led_green",
        "BCM 15 has two functions: led_green and the PN532 reader's UART RXD",
        "move led_green",
    ),
    (
        "pizero2w-rcs380",
        16,
        "pins.exit_button",
        "BCM 21 has two functions: exit_button and channel 3 of the Waveshare RPi Relay Board",
        "move exit_button",
    ),
]


@pytest.mark.parametrize(
    ("name", "line", "key", "message", "hint"), INVALID, ids=[row[0] for row in INVALID]
)
def test_invalid_configs_explain_themselves(
    name: str, line: int, key: str, message: str, hint: str
) -> None:
    path = FIXTURES / "invalid" / f"{name}.toml"
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    finding = next(f for f in caught.value.findings if f.key == key)
    assert finding.file == path
    assert (finding.line, finding.key) == (line, key)
    assert message in finding.message
    assert hint in finding.hint
    text = str(finding)
    assert text.startswith(f"{path}:{line}: error:")


def test_every_error_in_a_file_is_reported_at_once() -> None:
    # readr_id is both an unknown key and leaves reader_id missing: all three are said.
    with pytest.raises(ConfigError) as caught:
        load_node_config(FIXTURES / "invalid" / "node.toml")
    found = [(f.key, f.line) for f in caught.value.findings]
    assert found == [("node.reader_id", 4), ("node.site", 5), ("node.readr_id", 7)]
    missing, _site, unknown = caught.value.findings
    assert missing.hint.startswith("add 'reader_id = ...' under [node]")
    assert unknown.hint == "did you mean 'reader_id'?"


def test_missing_files_warn_but_do_not_fail() -> None:
    node = load_node_config(FIXTURES / "valid" / "node.toml")
    warnings = missing_files(node)
    assert {w.key for w in warnings} == {
        "paths.policy",
        "paths.policy_signer_cert",
        "paths.trust_anchors",
        "paths.status_list_signer_cert",
    }
    assert all(w.severity == "warning" and w.line for w in warnings)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_node_config(tmp_path / "absent.toml")
    assert "cannot read" in caught.value.findings[0].message
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError) as caught:
        load_node_config(binary)
    assert "UTF-8" in caught.value.findings[0].message


def test_wrong_types_and_shapes(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        'profile = "pi4-pn532-waveshare-relay"\n'  # 1
        "door = 5\n"  # 2
        "[node]\n"  # 3
        "site = 6\n"  # 4
        'node_id = "gate-1"\n'  # 5
        'reader_id = "r1"\n'  # 6
        "[pins]\n"  # 7
        'led_green = "twelve"\n',  # 8
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    found = {f.key: f for f in caught.value.findings}
    assert [f.line for f in caught.value.findings] == [2, 4, 8, None]
    assert found["door"].message == "'door' should be a section, not 5"
    assert found["door"].hint == "write [door] on a line of its own, with its keys below it"
    assert found["node.site"].message == "Input should be a valid string (got 6)"
    assert found["pins.led_green"].hint == "BCM GPIO number of the green LED output, e.g. 17"
    assert found["paths"].message == "missing section [paths]"
    assert found["paths"].hint == (
        "add a [paths] section with policy, policy_signer_cert, trust_anchors, "
        "status_list_signer_cert"
    )


def test_a_value_that_is_part_of_an_allowed_one_is_suggested(tmp_path: Path) -> None:
    text = (FIXTURES / "valid" / "pins.toml").read_text(encoding="utf-8")
    path = tmp_path / "node.toml"
    path.write_text(text.replace('"active-high"', '"high"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    (finding,) = caught.value.findings
    assert finding.key == "door.relay_polarity"
    assert finding.hint == "did you mean 'active-high'?"


def test_the_lock_contact_must_be_stated(tmp_path: Path) -> None:
    """Which relay contact carries the lock decides which way it fails: never a default."""
    text = (EXAMPLES / "node-pi4-pn532.toml").read_text(encoding="utf-8")
    assert 'lock_contact = "NO"' in text
    path = tmp_path / "node.toml"
    path.write_text(text.replace('lock_contact = "NO"\n', ""), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    (finding,) = caught.value.findings
    assert finding.key == "door.lock_contact"
    assert "missing required key 'lock_contact' in [door]" in finding.message
    assert "'NO' or 'NC'" in (finding.hint or "")


def test_a_profile_without_indicator_pins_needs_the_node_to_give_them(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "firmware_profiles"
    text = (shipped / "pi4-pn532-waveshare-relay.toml").read_text(encoding="utf-8")
    (profiles / "pi4-pn532-waveshare-relay.toml").write_text(
        text.replace("buzzer = 22\n", ""), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_node_config(EXAMPLES / "node-pi4-pn532.toml", profiles)
    messages = [f.message for f in caught.value.findings]
    assert "no pin for buzzer: neither the node nor the profile sets it" in messages


def test_a_client_certificate_without_its_key_is_named_in_mqtt(tmp_path: Path) -> None:
    text = (EXAMPLES / "node-pi4-pn532.toml").read_text(encoding="utf-8")
    assert "[mqtt]\n" in text
    path = tmp_path / "node.toml"
    path.write_text(
        text.replace("[mqtt]\n", '[mqtt]\ntls_ca_file = "ca.pem"\ntls_cert_file = "node.pem"\n'),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    (finding,) = caught.value.findings
    assert finding.key.startswith("mqtt")
    assert "tls_cert_file and tls_key_file go together" in finding.message
    assert finding.line is not None
