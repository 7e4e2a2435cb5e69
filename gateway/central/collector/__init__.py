"""The central collector: every node's events over MQTT into one store, checked and alarmed.

``service.Collector`` runs it; ``store.EventStore`` is the API the viewer and
``gateway logs`` read (see docs/collector.md). The config (``collector.config``) is not
imported here: it names the viewer's section, and the viewer imports the store.
"""

from gateway.central.collector.model import (
    Alarm,
    AlarmKind,
    EventFilter,
    NodeHealth,
    Page,
    Presence,
    Severity,
    StoredEvent,
)
from gateway.central.collector.store import EventStore, open_store

__all__ = [
    "Alarm",
    "AlarmKind",
    "EventFilter",
    "EventStore",
    "NodeHealth",
    "Page",
    "Presence",
    "Severity",
    "StoredEvent",
    "open_store",
]
