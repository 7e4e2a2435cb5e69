"""Who is inside each building, from ``passage`` events.

The node emits ``passage`` (holder_id, zone) once a granted person actually went
through; the direction is on the granted ``decision`` just before it from the same
node, so the tracker remembers the last grant per (node, holder). The building
comes from the payload if the node ever sends one, else from the collector
config's ``[zones.<zone>] building``. Entering a zone puts the holder inside its
building; exiting moves them to the zone's ``parent`` if that is in the same
building, else out.
"""

from __future__ import annotations

from gateway.central.collector.config import Site
from gateway.central.collector.model import Presence, PresenceChange, StoredEvent


class PresenceTracker:
    def __init__(self, site: Site) -> None:
        self.site = site
        self._grants: dict[tuple[str, str], StoredEvent] = {}
        self.unplaced = 0  # passages whose zone maps to no building (config gap)

    def on_event(self, e: StoredEvent) -> list[PresenceChange]:
        if e.kind == "decision" and e.granted and e.holder_id is not None:
            self._grants[(e.node, e.holder_id)] = e
            return []
        if e.kind != "passage" or e.holder_id is None:
            return []
        grant = self._grants.pop((e.node, e.holder_id), None)
        zone = e.zone or (grant.zone if grant else None)
        building = e.building or self.site.building_of(zone)
        if building is None:
            self.unplaced += 1
            return []
        direction = str((grant.payload if grant else e.payload).get("direction") or "entry")
        door = e.door or (grant.door if grant else None)
        org = grant.organization_code if grant else None
        if direction != "exit":
            return [
                PresenceChange(
                    "enter", Presence(building, e.holder_id, zone, door, e.node, e.at, org)
                )
            ]
        parent = self.site.zone_parent.get(zone or "")
        if parent is not None and self.site.building_of(parent) == building:
            return [
                PresenceChange(
                    "enter", Presence(building, e.holder_id, parent, door, e.node, e.at, org)
                )
            ]
        return [
            PresenceChange("leave", Presence(building, e.holder_id, zone, door, e.node, e.at, org))
        ]
