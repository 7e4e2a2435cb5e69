"""The site's signed documents: the policy as the policy team signed it, and the posture.

Both are signed by the site **policy signer** (the key the nodes configure as
``paths.policy_signer_cert``), published retained, and kept in the service's
state so that a restart republishes them. A posture's version is one more than
the last one for that site, persisted before it is published, so it only ever
moves forward, across restarts too; the nodes refuse anything older.
A policy document is checked before it goes out: it must verify with the
policy signer's key and have a version above the last one published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority_service.publisher import Outgoing, Publisher
from gateway.central.authority_service.state import Document, ServiceState
from gateway.central.sync_publish import sign_posture
from gateway.mqtt import topics
from gateway.mqtt.payloads import PostureName, PostureState
from gateway.node.policy import load_signed

log = structlog.get_logger("gateway.central.authority_service")


class PostureDesk:
    def __init__(
        self,
        state: ServiceState,
        publisher: Publisher,
        key: ec.EllipticCurvePrivateKey,
        sites: list[str],
        wall: Callable[[], dt.datetime],
    ) -> None:
        self._state, self._publisher, self._key = state, publisher, key
        self._sites, self._wall = list(sites), wall

    def refresh(self) -> int:
        """Queue every stored document newer than what the publisher holds (all of them at
        start; later, those another process, e.g. ``gateway authority posture``, stored)."""
        queued = 0
        for doc in self._state.documents():
            held = self._publisher.current_version(doc.topic)
            if held is None or held < doc.version:
                self._publisher.retain(Outgoing(doc.kind, doc.topic, doc.payload, doc.version))
                queued += 1
        return queued

    def _site(self, site: str | None) -> str:
        if site is None:
            if len(self._sites) != 1:
                raise ValueError(f"name the site: this service publishes to {self._sites}")
            return self._sites[0]
        if site not in self._sites:
            raise ValueError(f"site {site!r} is not one of {self._sites}")
        return site

    def current(self, kind: str, site: str | None = None) -> Document | None:
        return self._state.document(topics.topic_for(kind, site=self._site(site)))

    def set_posture(
        self,
        posture: PostureName,
        buildings: dict[str, PostureName] | None = None,
        drill: bool = False,
        reason: str | None = None,
        *,
        actor: str,
        site: str | None = None,
    ) -> PostureState:
        """Sign the new posture with the next version, persist it, publish it retained."""
        site = self._site(site)
        topic = topics.topic_for("posture", site=site)
        held = self._state.document(topic)
        now = self._wall()
        state = PostureState(
            site=site,
            version=1 if held is None else held.version + 1,
            issued_at=now,
            posture=posture,
            buildings=dict(buildings or {}),
            drill=drill,
            reason=reason,
        )
        signed = sign_posture(state, self._key)
        self._state.put_document(Document(topic, "posture", site, state.version, signed), now)
        self._publisher.retain(Outgoing("posture", topic, signed, state.version))
        log.info(
            "posture_set",
            site=site,
            version=state.version,
            posture=posture,
            buildings=state.buildings,
            drill=drill,
            reason=reason,
            actor=actor,
        )
        return state

    def publish_policy(self, signed: bytes, *, actor: str, site: str | None = None) -> int:
        """Check and publish a signed policy document; returns its version.

        Raises ``PolicyError`` (bad signature, not a policy) or ValueError (not newer).
        """
        site = self._site(site)
        version = load_signed(signed, self._key.public_key()).document.version
        topic = topics.topic_for("policy", site=site)
        self._state.put_document(Document(topic, "policy", site, version, signed), self._wall())
        self._publisher.retain(Outgoing("policy", topic, signed, version))
        log.info("policy_published", site=site, version=version, bytes=len(signed), actor=actor)
        return version
