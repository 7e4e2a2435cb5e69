"""Node-side sync of the centre's signed, retained documents (docs/sync.md).

:class:`Syncer` verifies and installs status lists, deltas, the policy, the
posture and the trust anchors; :class:`SyncStore` keeps their signed bytes
across reboots; :func:`apply_staleness` applies each zone's freshness rule to
a decision.
"""

from gateway.node.sync.deltas import make_delta, open_delta
from gateway.node.sync.documents import AppliedPosture
from gateway.node.sync.events import Reason, SyncEvent, SyncRefused
from gateway.node.sync.freshness import StalenessVerdict, apply_staleness
from gateway.node.sync.keys import key_id, list_id_for
from gateway.node.sync.store import SyncStore
from gateway.node.sync.syncer import NodeSink, Syncer

__all__ = [
    "AppliedPosture",
    "NodeSink",
    "Reason",
    "StalenessVerdict",
    "SyncEvent",
    "SyncRefused",
    "SyncStore",
    "Syncer",
    "apply_staleness",
    "key_id",
    "list_id_for",
    "make_delta",
    "open_delta",
]
