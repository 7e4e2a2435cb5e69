"""The node over TLS: the site's Mosquitto listens on TLS only in production.

A CA and a broker certificate for 127.0.0.1 are made here; Mosquitto gets a TLS
listener beside its plain one; the node, given ``tls_ca_file`` and the TLS port,
connects over TLS and its events reach a subscriber on the plain listener.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from pathlib import Path

import aiomqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.topics import subscription
from tests.mqtt.broker import free_port, running_mosquitto
from tests.node.link.site import SITE, linked_node, write_linked_site
from tests.node.test_node_app import WORLD

PEM = serialization.Encoding.PEM


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test site CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _server(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca[1].subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca[0], hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return cert.public_bytes(PEM), key_pem


async def test_the_node_publishes_over_tls_to_a_broker_its_ca_vouches_for(tmp_path: Path) -> None:
    site_ca = _ca()
    cert, key = _server(site_ca)
    tls_port = free_port()
    files = {
        "ca.pem": site_ca[1].public_bytes(PEM).decode(),
        "server.pem": cert.decode(),
        "server.key": key.decode(),
    }
    extra = (
        f"\nlistener {tls_port} 127.0.0.1\ncafile $data_dir/ca.pem\n"
        "certfile $data_dir/server.pem\nkeyfile $data_dir/server.key\n"
    )
    (tmp_path / "site-ca.pem").write_bytes(site_ca[1].public_bytes(PEM))
    with running_mosquitto(extra=extra, files=files) as broker:
        keys = write_linked_site(
            tmp_path, broker.host, tls_port, mqtt_extra='tls_ca_file = "site-ca.pem"\n'
        )
        seqs: list[int] = []
        async with aiomqtt.Client(broker.host, broker.port, identifier="plain-watch") as watch:
            await watch.subscribe(subscription("events", site=SITE), qos=1)
            async with linked_node(tmp_path, keys) as node:  # connected: over TLS
                await node.tap(WORLD.issue_card(80))
                await node.service.outbox.flush()
                head = node.service.outbox.head[0]
                assert node.service.publisher is not None
                async with asyncio.timeout(10):
                    await node.service.publisher.wait_delivered(head)
                    async for message in watch.messages:
                        assert isinstance(message.payload, bytes)
                        batch = EventBatch.model_validate_json(message.payload)
                        seqs.extend(e.seq for e in batch.events)
                        if max(seqs) >= head:
                            break
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))
