"""Load node configs and firmware profiles from TOML, validate them, run the final pass.

Every problem becomes a :class:`Finding` naming the file, the line and the key
path, with a hint; :class:`ConfigError` carries them all at once.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.config.devices import device_matches_model, parse_nfc_device
from gateway.config.errors import findings_from
from gateway.config.findings import ConfigError, Finding, key_path
from gateway.config.models import NodeConfig
from gateway.config.pins import PinIssue, effective_pins, final_pass, relay_active_high
from gateway.config.profiles import FirmwareProfile, available_profiles, default_profiles_dir
from gateway.config.toml_lines import LineMap

M = TypeVar("M", bound=BaseModel)
_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class Source:
    path: Path
    data: dict[str, Any]
    lines: LineMap


@dataclass(frozen=True)
class LoadedNode:
    """A node config that passed every check, with its profile resolved."""

    path: Path
    config: NodeConfig
    profile: FirmwareProfile
    profile_path: Path
    pins: dict[str, int]
    nfc_device: str
    relay_active_high: bool

    def resolve(self, path: Path) -> Path:
        """A path from the config, taken relative to the config file's folder."""
        return path if path.is_absolute() else self.path.parent / path

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.resolve(p) for name, p in self.config.paths}


def read_toml(path: Path) -> Source:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Finding(path, None, "", f"cannot read: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Finding(path, None, "", "is not UTF-8 text", "save it as UTF-8")]
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_AT.search(str(exc))
        message = _TOML_AT.sub("", str(exc)).strip()
        raise ConfigError(
            [
                Finding(
                    path,
                    int(match[1]) if match else None,
                    "",
                    f"not valid TOML: {message}",
                    "check quotes, brackets and '=' on that line; strings need quotes",
                )
            ]
        ) from exc
    return Source(path, data, LineMap(text))


def validate(model: type[M], source: Source) -> M:
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        findings = findings_from(exc, model, source.data, source.path, source.lines)
        raise ConfigError(findings) from exc


def _issue(issue: PinIssue, node: Source | None, profile: Source) -> Finding:
    source = node if issue.origin == "node" and node is not None else profile
    line, _exact = source.lines.line_for(issue.key)
    return Finding(source.path, line, key_path(issue.key), issue.message, issue.hint)


def _load_profile(path: Path) -> tuple[FirmwareProfile, Source]:
    source = read_toml(path)
    profile = validate(FirmwareProfile, source)
    if profile.name != path.stem:
        line, _exact = source.lines.line_for(("name",))
        raise ConfigError(
            [
                Finding(
                    path,
                    line,
                    "name",
                    f"profile name {profile.name!r} differs from the file name",
                    f"set name = {path.stem!r}, or rename the file to {profile.name}.toml",
                )
            ]
        )
    return profile, source


def load_profile_file(path: Path) -> FirmwareProfile:
    """Load and check one firmware profile on its own."""
    profile, source = _load_profile(path)
    findings = [_issue(i, None, source) for i in final_pass(profile)]
    if findings:
        raise ConfigError(findings)
    return profile


def _find_profile(name: str, source: Source, directory: Path) -> Path:
    path = directory / f"{name}.toml"
    if path.is_file():
        return path
    names = available_profiles(directory)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"available: {', '.join(names) or 'none'}"
    line, _exact = source.lines.line_for(("profile",))
    raise ConfigError(
        [
            Finding(
                source.path, line, "profile", f"no firmware profile {name!r} in {directory}", hint
            )
        ]
    )


def load_node_config(path: Path, profiles_dir: Path | None = None) -> LoadedNode:
    """Load a node config, its firmware profile, and run the final pass over both."""
    source = read_toml(path)
    config = validate(NodeConfig, source)
    profile_path = _find_profile(config.profile, source, profiles_dir or default_profiles_dir())
    profile, profile_source = _load_profile(profile_path)
    findings = [_issue(i, source, profile_source) for i in final_pass(profile, config)]
    device = config.readers.nfc or profile.reader.device
    if config.readers.nfc is not None:
        why = device_matches_model(parse_nfc_device(device), profile.reader.model)
        if why is not None:
            line, _exact = source.lines.line_for(("readers", "nfc"))
            findings.append(
                Finding(
                    path,
                    line,
                    "readers.nfc",
                    f"{device!r} is not the profile's {profile.reader.model.upper()} reader: {why}",
                    f"remove it to use the profile reader {profile.reader.device!r}",
                )
            )
    if findings:
        raise ConfigError(findings)
    return LoadedNode(
        path=path,
        config=config,
        profile=profile,
        profile_path=profile_path,
        pins={name: use.pin for name, use in effective_pins(profile, config.pins).items()},
        nfc_device=device,
        relay_active_high=relay_active_high(profile, config),
    )


def missing_files(node: LoadedNode) -> list[Finding]:
    """Warnings for files in [paths] that are not there (yet) on this machine."""
    out: list[Finding] = []
    source_lines = read_toml(node.path).lines
    for name, path in node.files.items():
        if not path.exists():
            line, _exact = source_lines.line_for(("paths", name))
            out.append(
                Finding(
                    node.path,
                    line,
                    f"paths.{name}",
                    f"{path} does not exist on this machine",
                    "install it before starting the node",
                    severity="warning",
                )
            )
    return out
