"""DeviceRequest (ISO/IEC 18013-5 §8.3.2.1.2.1): what the gate asks the phone to disclose.

A door asks for :data:`~gateway.credentials.csid.DOOR_ELEMENTS` only; the
name and the portrait stay on the phone unless a guard desk asks for them
(:data:`GUARD_DESK_ELEMENTS`). Nothing is retained (``intentToRetain`` false):
the gate logs its decision, not the person's data. There is no readerAuth yet.

:func:`parse_device_request` is the strict reading the holder side uses; it
raises :class:`ReadFailure` (``protocol_error``) and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.credentials.cbor import (
    CborError,
    decode,
    encode,
    expect_list,
    expect_map,
    expect_str,
    tag24,
    untag24,
)
from gateway.credentials.csid import DOCTYPE, DOOR_ELEMENTS, NAME, NAMESPACE, PORTRAIT
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

VERSION = "1.0"
GUARD_DESK_ELEMENTS = (*DOOR_ELEMENTS, NAME, PORTRAIT)
MAX_REQUEST = 64 * 1024  # the annex request with its readerAuth certificate is 719 bytes
MAX_DOC_REQUESTS = 16
MAX_ELEMENTS = 256


def build_device_request(
    elements: Sequence[str] = DOOR_ELEMENTS,
    *,
    doctype: str = DOCTYPE,
    namespace: str = NAMESPACE,
) -> bytes:
    """A DeviceRequest for ``elements`` of one document type, none to be retained."""
    if not elements or len(set(elements)) != len(elements):
        raise ValueError("ask for at least one element, each once")
    items = {"docType": doctype, "nameSpaces": {namespace: dict.fromkeys(elements, False)}}
    return encode({"version": VERSION, "docRequests": [{"itemsRequest": tag24(encode(items))}]})


@dataclass(frozen=True, slots=True)
class DocRequest:
    doctype: str
    # namespace -> element identifier -> intentToRetain
    namespaces: dict[str, dict[str, bool]]
    items_request: bytes = field(repr=False)  # ItemsRequest as received (readerAuth signs it)
    reader_auth: Any = field(default=None, repr=False)  # COSE_Sign1, not checked yet

    def requested(self) -> dict[str, list[str]]:
        """The element identifiers asked for, by namespace (what ``mdoc.present`` takes)."""
        return {namespace: list(elements) for namespace, elements in self.namespaces.items()}


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    version: str
    doc_requests: list[DocRequest]


def _fail(detail: str) -> ReadFailure:
    return ReadFailure(ReadFailureReason.PROTOCOL_ERROR, f"DeviceRequest: {detail}")


def parse_device_request(data: bytes) -> DeviceRequest:
    """Read a DeviceRequest strictly (no trailing bytes, no duplicate keys, bounded sizes)."""
    if not isinstance(data, bytes) or len(data) > MAX_REQUEST:
        raise _fail("missing or too long")
    try:
        request = expect_map(decode(data), "DeviceRequest")
        version = expect_str(request.get("version"), "version")
        if not version.startswith("1."):
            raise _fail(f"version {version!r} is not 1.x")
        docs = expect_list(request.get("docRequests"), "docRequests")
        if not 0 < len(docs) <= MAX_DOC_REQUESTS:
            raise _fail(f"{len(docs)} docRequests")
        return DeviceRequest(version, [_doc_request(doc) for doc in docs])
    except CborError as exc:
        raise _fail(str(exc)) from exc


def _doc_request(value: Any) -> DocRequest:
    doc = expect_map(value, "DocRequest")
    items_bytes = untag24(doc.get("itemsRequest"), "ItemsRequestBytes")
    items = expect_map(decode(items_bytes), "ItemsRequest")
    doctype = expect_str(items.get("docType"), "docType")
    namespaces: dict[str, dict[str, bool]] = {}
    count = 0
    for namespace, elements in expect_map(items.get("nameSpaces"), "nameSpaces").items():
        wanted: dict[str, bool] = {}
        for element, retain in expect_map(elements, "DataElements").items():
            if not isinstance(retain, bool):
                raise _fail("intentToRetain must be a boolean")
            wanted[expect_str(element, "element identifier")] = retain
        count += len(wanted)
        namespaces[expect_str(namespace, "namespace")] = wanted
    if not namespaces or count == 0 or count > MAX_ELEMENTS:
        raise _fail(f"{count} data elements requested")
    return DocRequest(doctype, namespaces, items_bytes, doc.get("readerAuth"))
