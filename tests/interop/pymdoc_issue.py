"""Issue an mdoc with pymdoccbor's MdocCborIssuer. Runs in the interop venv, not ours.

stdin: JSON {"signer_d", "x5chain": [DER hex], "device_key": {"x", "y"} | null,
"device_key_pem": str | null, "doctype", "data": CBOR hex of {namespace: {id: value}},
"validity": {"issuance_date", "expiry_date"}, "revocation": CBOR hex | null}.
stdout: JSON {"mdoc": hex of MdocCborIssuer.dump()}, the issuer's DeviceResponse-shaped
map (documents[0].issuerSigned, no deviceSigned).
"""

from __future__ import annotations

import json
import sys

import cbor2
from pymdoccbor.mdoc.issuer import MdocCborIssuer


def main() -> None:
    request = json.load(sys.stdin)
    issuer = MdocCborIssuer(
        private_key={
            "KTY": "EC2",
            "CURVE": "P_256",
            "ALG": "ES256",
            "D": bytes.fromhex(request["signer_d"]),
        },
        alg="ES256",
    )
    if request.get("device_key_pem"):
        device_key = request["device_key_pem"]  # pymdoccbor's base64url-of-PEM form
    else:
        key = request["device_key"]
        device_key = {
            "KTY": "EC2",
            "CURVE": "P_256",
            "X": bytes.fromhex(key["x"]),
            "Y": bytes.fromhex(key["y"]),
        }
    revocation = request.get("revocation")
    issuer.new(
        data=cbor2.loads(bytes.fromhex(request["data"])),
        doctype=request["doctype"],
        validity=request["validity"],
        devicekeyinfo=device_key,
        x509_chain=[bytes.fromhex(der) for der in request["x5chain"]],
        revocation=None if revocation is None else cbor2.loads(bytes.fromhex(revocation)),
    )
    print(json.dumps({"mdoc": issuer.dump().hex()}))


if __name__ == "__main__":
    main()
