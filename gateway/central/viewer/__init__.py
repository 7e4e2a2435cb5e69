"""The security staff's web viewer over the collector's event store (docs/viewer.md)."""

from gateway.central.viewer.actions import (
    ActionError,
    LifecycleAction,
    LifecycleActions,
    MqttActions,
    StaffActions,
)
from gateway.central.viewer.app import create_app
from gateway.central.viewer.auth import AccountError, AccountStore, Role

__all__ = [
    "AccountError",
    "AccountStore",
    "ActionError",
    "LifecycleAction",
    "LifecycleActions",
    "MqttActions",
    "Role",
    "StaffActions",
    "create_app",
]
