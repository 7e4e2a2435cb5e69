"""A presentation saved to a file, so it can be verified again away from the gate.

The format is JSON with base64 byte strings (see docs/credential-verify.md).
Gates write one when asked to capture a tap; the authority's tour writes
them; anyone testing the format from outside can write one by hand.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from gateway.credentials.verifier import CardPresentation, MobilePresentation


def _b64decode(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(value, validate=True)


B64 = Annotated[
    bytes,
    BeforeValidator(_b64decode),
    PlainSerializer(lambda b: base64.b64encode(b).decode(), return_type=str),
]


class SavedMobile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["mobile"] = "mobile"
    device_response: B64
    session_transcript: B64
    reader_key_pem: str | None = None  # only to check a deviceMac
    captured_at: dt.datetime | None = None

    def presentation(self) -> MobilePresentation:
        reader_key = None
        if self.reader_key_pem:
            key = serialization.load_pem_private_key(self.reader_key_pem.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError("reader_key_pem must be an EC private key")
            reader_key = key
        return MobilePresentation(self.device_response, self.session_transcript, reader_key)


class SavedCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["card"] = "card"
    card_object: B64
    challenge: B64
    signature: B64 | None = None
    reader_id: str | None = None
    captured_at: dt.datetime | None = None

    def presentation(self) -> CardPresentation:
        return CardPresentation(self.card_object, self.challenge, self.signature)


SavedPresentation = SavedMobile | SavedCard


class SavedPresentationError(ValueError):
    """The file is not a saved presentation; the message names the file and the field."""


def load(path: Path) -> SavedPresentation:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SavedPresentationError(f"{path}: {exc}") from exc
    kind = data.get("kind") if isinstance(data, dict) else None
    model: type[SavedMobile] | type[SavedCard]
    if kind == "mobile":
        model = SavedMobile
    elif kind == "card":
        model = SavedCard
    else:
        raise SavedPresentationError(f'{path}: "kind" must be "mobile" or "card", not {kind!r}')
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SavedPresentationError(f"{path}: {problems}") from exc


def dump(saved: SavedPresentation) -> str:
    return saved.model_dump_json(indent=2, exclude_none=True)
