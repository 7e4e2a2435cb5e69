"""The node's sync state machine: verify, version-check, persist, then install (no MQTT here).

The MQTT client hands every message on a sync topic to :meth:`Syncer.handle`
and emits the events it returns. Nothing is installed unless it verifies
against the right signer and moves its version forward; a refusal changes
nothing and is a ``security`` alarm. See docs/sync.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.cbor import CborError, decode, encode
from gateway.credentials.status_list import StatusListError
from gateway.credentials.verifier import Verifier
from gateway.mqtt.payloads import PostureState, TrustAnchors
from gateway.node.policy import CompiledPolicy, LoadedPolicy, compile_policy
from gateway.node.sync import documents
from gateway.node.sync.deltas import apply_delta, open_delta
from gateway.node.sync.documents import AppliedPosture
from gateway.node.sync.events import SyncEvent, SyncRefused, What, accepted, refused
from gateway.node.sync.keys import list_id_for, token_uri
from gateway.node.sync.store import SyncStore

log = logging.getLogger(__name__)

_WHAT: dict[str, What] = {
    "status_list": "status_list",
    "status_list_delta": "status_delta",
    "policy": "policy",
    "posture": "posture",
    "trust_anchors": "trust_anchors",
}
# Restore order: anchors decide which status signers count, the policy which zones exist.
_RESTORE_ORDER = ("trust_anchors", "policy", "posture", "status-list/", "status-delta/")


_Handler = Callable[[str | None, bytes, dt.datetime, bool], list[SyncEvent]]


class NodeSink(Protocol):
    """How the syncer changes the running node; both are called on the node's own loop."""

    def install_policy(self, loaded: LoadedPolicy, compiled: CompiledPolicy) -> None: ...

    def install_posture(self, posture: AppliedPosture) -> None: ...


class Syncer:
    def __init__(
        self,
        verifier: Verifier,
        policy: LoadedPolicy,
        policy_key: ec.EllipticCurvePublicKey,
        store: SyncStore,
        site: str,
        sink: NodeSink,
    ) -> None:
        self.verifier = verifier
        self.policy = policy
        self.posture: tuple[PostureState, bytes] | None = None
        self.anchors: tuple[TrustAnchors, bytes] | None = None
        self._policy_key = policy_key
        self._store = store
        self._site = site
        self._sink = sink
        self._deltas: dict[str, list[bytes]] = {}  # list uri -> deltas applied since its token
        self._handlers: dict[str, _Handler] = {
            "status_list": self._status_token,
            "status_list_delta": self._status_delta,
            "policy": self._policy,
            "posture": self._posture,
            "trust_anchors": self._trust_anchors,
        }

    def handle(
        self,
        topic_name: str,
        params: dict[str, str],
        payload: bytes,
        *,
        retained: bool,
        now: dt.datetime,
    ) -> list[SyncEvent]:
        """One message from ``gateway.mqtt.topics.match()``; never raises."""
        handler = self._handlers.get(topic_name)
        if handler is None:
            return []
        what = _WHAT[topic_name]
        list_id = params.get("list")
        extra = {} if list_id is None else {"list": list_id}
        try:
            if params.get("site") != self._site:
                raise SyncRefused("wrong_site", f"topic is for site {params.get('site')!r}")
            return handler(list_id, payload, now, True)
        except SyncRefused as refusal:
            return [refused(what, refusal, retained=retained, **extra)]
        except Exception as exc:  # a hostile byte string must never stop the node's sync
            log.exception("sync handler failed")
            bug = SyncRefused("malformed", f"unexpected {type(exc).__name__}")
            return [refused(what, bug, retained=retained, **extra)]

    def restore(self, now: dt.datetime) -> list[SyncEvent]:
        """Re-verify and install what was persisted; forward-only against the config's files.

        A persisted message older than what the config gave is skipped quietly
        (the config was updated while the node was off); anything that does not
        verify is a security event and is left alone on disk.
        """
        events: list[SyncEvent] = []
        names = self._store.names()
        ordered = [n for prefix in _RESTORE_ORDER for n in names if n.startswith(prefix)]
        for name in ordered:
            topic, _, list_id = name.partition("/")
            topic_name = {"status-list": "status_list", "status-delta": "status_list_delta"}.get(
                topic, topic
            )
            what = _WHAT[topic_name]
            extra = {"list": list_id} if list_id else {}
            try:
                raw = self._store.load(name)
                if raw is None:
                    continue
                if topic_name == "status_list_delta":
                    done = self._restore_deltas(list_id, raw, now)
                else:
                    done = self._handlers[topic_name](list_id or None, raw, now, False)
            except SyncRefused as refusal:
                if refusal.reason in ("rollback", "base_mismatch"):
                    log.debug("persisted %s is superseded: %s", name, refusal.detail)
                    continue
                events.append(refused(what, refusal, restored=True, **extra))
                continue
            except OSError as exc:
                unreadable = SyncRefused("malformed", f"cannot read {name}: {exc}")
                events.append(refused(what, unreadable, restored=True, **extra))
                continue
            events.extend(SyncEvent(e.kind, {**e.fields, "restored": True}) for e in done)
        return events

    # -- one method per topic: verify, install, persist, report ---------------------------
    def _persist(self, name: str, raw: bytes, event: SyncEvent, persist: bool) -> list[SyncEvent]:
        if not persist:
            return [event]
        try:
            self._store.save(name, raw)
        except OSError as exc:
            # Installed in memory (a revocation must not wait for a failing SD card),
            # but a reboot would lose it: an alarm, not a success.
            log.error("cannot persist %s: %s", name, exc)
            fields = {**event.fields, "is_alarm": True, "detail": f"not persisted: {exc}"}
            return [SyncEvent("sync_error", fields)]
        return [event]

    def _status_token(
        self, list_id: str | None, raw: bytes, now: dt.datetime, persist: bool
    ) -> list[SyncEvent]:
        cache = self.verifier.status
        uri = token_uri(raw)
        if uri is not None and list_id is not None and _list_id(uri) != list_id:
            raise SyncRefused("invalid", f"token for {uri!r} on the topic of list {list_id!r}")
        before = cache.token(uri) if uri is not None else None
        try:
            token = cache.apply(raw, int(now.timestamp()))
        except StatusListError as exc:
            raise SyncRefused(exc.reason, str(exc)) from exc
        if token is before:
            return []
        list_id = _list_id(token.uri)
        self._deltas.pop(token.uri, None)
        event = accepted("status_list", token.issued_at, list=list_id)
        done = self._persist(f"status-list/{list_id}", raw, event, persist)
        if persist:
            try:
                self._store.delete(f"status-delta/{list_id}")
            except OSError as exc:  # restore skips deltas older than the token anyway
                log.warning("cannot delete old deltas of %s: %s", list_id, exc)
        return done

    def _status_delta(
        self, list_id: str | None, raw: bytes, now: dt.datetime, persist: bool
    ) -> list[SyncEvent]:
        cache = self.verifier.status
        delta = open_delta(raw, cache)
        if list_id is not None and _list_id(delta.sub) != list_id:
            raise SyncRefused(
                "invalid", f"delta for {delta.sub!r} on the topic of list {list_id!r}"
            )
        chain = self._deltas.get(delta.sub, [])
        if raw in chain:
            return []  # QoS 1 may deliver the same delta twice
        apply_delta(cache, delta, int(now.timestamp()))
        chain = [*chain, raw]
        self._deltas[delta.sub] = chain
        list_id = _list_id(delta.sub)
        event = accepted("status_delta", delta.iat, list=list_id, changes=len(delta.changes))
        return self._persist(f"status-delta/{list_id}", encode(chain), event, persist)

    def _restore_deltas(self, list_id: str, raw: bytes, now: dt.datetime) -> list[SyncEvent]:
        try:
            chain = decode(raw)
        except CborError as exc:
            raise SyncRefused("malformed", f"persisted deltas: {exc}") from exc
        if not isinstance(chain, list) or not all(isinstance(d, bytes) for d in chain):
            raise SyncRefused("malformed", "persisted deltas are not a list of messages")
        events: list[SyncEvent] = []
        for delta in chain:
            events.extend(self._status_delta(list_id, delta, now, False))
        return events

    def _policy(
        self, _list: str | None, raw: bytes, now: dt.datetime, persist: bool
    ) -> list[SyncEvent]:
        loaded = documents.open_policy(raw, self._policy_key, self.policy)
        if loaded is None:
            return []
        try:
            compiled = compile_policy(loaded.document, slim=True)
        except ValueError as exc:
            raise SyncRefused("invalid", f"policy does not compile: {exc}") from exc
        loaded = LoadedPolicy(compiled.document, loaded.installed)  # the gate's slim copy
        self.policy = loaded
        self._sink.install_policy(loaded, compiled)
        return self._persist("policy", raw, accepted("policy", loaded.document.version), persist)

    def _posture(
        self, _list: str | None, raw: bytes, now: dt.datetime, persist: bool
    ) -> list[SyncEvent]:
        state = documents.open_posture(raw, self._policy_key, self._site, self.posture)
        if state is None:
            return []
        applied = AppliedPosture.from_message(state)
        self.posture = (state, raw)
        self._sink.install_posture(applied)
        event = accepted("posture", state.version, posture=state.posture, drill=state.drill)
        return self._persist("posture", raw, event, persist)

    def _trust_anchors(
        self, _list: str | None, raw: bytes, now: dt.datetime, persist: bool
    ) -> list[SyncEvent]:
        anchors = documents.open_trust_anchors(raw, self._policy_key, self._site, self.anchors, now)
        if anchors is None:
            return []
        # The verifier's issuer memory needs no flush: every tap re-checks the DS
        # against the trust store in force, so a removed IACA denies at once.
        self.verifier.trust = anchors.trust
        keys = anchors.status_keys
        self.verifier.status.set_keys(lambda _uri: keys)  # one site, its signers answer every list
        self.anchors = (anchors.message, raw)
        event = accepted("trust_anchors", anchors.message.version)
        return self._persist("trust_anchors", raw, event, persist)

    # -- heartbeat ---------------------------------------------------------------------------
    def snapshot(self, now: dt.datetime, zone_id: str) -> dict[str, Any]:
        """Versions and ages for the heartbeat (``payloads.Synced`` each)."""
        staleness = self.policy.document.staleness_for(zone_id)
        at = now.timestamp()
        cache = self.verifier.status
        lists: dict[str, dict[str, Any]] = {}
        for uri in cache.uris():
            token = cache.token(uri)
            if token is None:
                continue
            age = max(0.0, at - token.issued_at)
            stale = age > staleness.max_age_s or token.is_stale(int(at))
            lists[_list_id(uri)] = {"version": token.issued_at, "age_s": age, "stale": stale}
        document = self.policy.document
        policy = {
            "version": document.version,
            "age_s": max(0.0, at - document.issued_at.timestamp()),
            "stale": False,
        }
        posture: dict[str, Any] = {"version": None, "age_s": None, "stale": False}
        if self.posture is not None:
            state = self.posture[0]
            posture = {
                "version": state.version,
                "age_s": max(0.0, at - state.issued_at.timestamp()),
                "stale": False,
            }
        return {"status_lists": lists, "policy": policy, "posture": posture}


def _list_id(uri: str) -> str:
    try:
        return list_id_for(uri)
    except ValueError as exc:
        raise SyncRefused("invalid", f"status list URI {uri!r} has no usable list id") from exc
