"""The central collector: every node's events over MQTT into one store, checked and alarmed.

``service.Collector`` runs it; ``store.EventStore`` is the API the viewer and
``gateway logs`` read (see docs/collector.md).
"""

from gateway.central.collector.config import CollectorConfig, LoadedCollector, load_collector_config
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
    "CollectorConfig",
    "EventFilter",
    "EventStore",
    "LoadedCollector",
    "NodeHealth",
    "Page",
    "Presence",
    "Severity",
    "StoredEvent",
    "load_collector_config",
    "open_store",
]
