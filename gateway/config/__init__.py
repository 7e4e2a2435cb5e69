"""Node configuration and firmware profiles: pydantic models, a TOML loader that
reports errors by file, line and key path, and a final pass over the GPIO pins."""

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import LoadedNode, load_node_config, load_profile_file
from gateway.config.models import (
    DoorSection,
    NodeConfig,
    NodeSection,
    PathsSection,
    PinsSection,
    ReadersSection,
)
from gateway.config.profiles import FirmwareProfile, default_profiles_dir

__all__ = [
    "ConfigError",
    "DoorSection",
    "Finding",
    "FirmwareProfile",
    "LoadedNode",
    "NodeConfig",
    "NodeSection",
    "PathsSection",
    "PinsSection",
    "ReadersSection",
    "default_profiles_dir",
    "load_node_config",
    "load_profile_file",
]
