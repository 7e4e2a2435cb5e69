"""``gateway authority serve --config F``: the TOML file and the policy signer key it names.

Every section forbids unknown keys; problems come back as
:class:`~gateway.config.findings.ConfigError` naming the file, the line, the key
and a hint (the same loader and messages as the node and collector configs).
Paths are taken relative to the config file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import read_toml, validate

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal[5, 311] = 5
    client_id: str = Field(default="authority-1", min_length=1, max_length=64)
    keepalive_s: int = Field(default=30, ge=5)
    ack_timeout_s: float = Field(default=10.0, gt=0, description="wait this long for a PUBACK")
    reconnect_initial_s: float = Field(default=0.1, gt=0, description="first retry; doubles")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="longest wait between tries")
    username: str | None = None
    password: str | None = None


class KeysSection(Section):
    policy_signer_key: Path = Field(
        description="PEM private key (P-256) of the site policy signer: signs posture"
    )


class HrImportSection(Section):
    path: Path = Field(description="a folder of HR exports, or one export file")
    pattern: str = Field(default="*.csv", min_length=1, description="files taken from a folder")
    interval_s: float = Field(default=300.0, gt=0)
    encoding: str | None = Field(default=None, description="default: UTF-8, else CP949")


class ServiceConfig(Section):
    authority_db: Path = Field(description="the authority's SQLite file (`authority init`)")
    state_db: Path = Field(
        default=Path("authority-service.sqlite"),
        description="what this service published, posture versions, HR files seen",
    )
    sites: list[Ident] = Field(min_length=1, description="status lists go to every site")
    actor: str = Field(default="authority-service", min_length=1, max_length=64)
    poll_interval_s: float = Field(default=0.2, gt=0, le=60)
    mqtt: MqttSection = MqttSection()
    keys: KeysSection
    hr_import: HrImportSection | None = None


@dataclass(frozen=True)
class LoadedService:
    path: Path
    config: ServiceConfig
    policy_key: ec.EllipticCurvePrivateKey

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.path.parent / path


def load_policy_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM; ValueError says what is wrong with it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path} is not a P-256 (secp256r1) key")
    return key


def load_service_config(path: Path) -> LoadedService:
    source = read_toml(path)
    config = validate(ServiceConfig, source)
    findings: list[Finding] = []
    key_file = config.keys.policy_signer_key
    key_file = key_file if key_file.is_absolute() else path.parent / key_file
    try:
        key = load_policy_key(key_file)
    except ValueError as exc:
        line, _ = source.lines.line_for(("keys", "policy_signer_key"))
        findings.append(
            Finding(
                path, line, "keys.policy_signer_key", str(exc),
                "name the PEM file of the site policy signer's private key",
            )
        )  # fmt: skip
    if len(set(config.sites)) != len(config.sites):
        line, _ = source.lines.line_for(("sites",))
        findings.append(Finding(path, line, "sites", "a site is listed twice"))
    if findings:
        raise ConfigError(findings)
    return LoadedService(path, config, key)
