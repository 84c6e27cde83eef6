"""A small private PKI for the demo, drills and tests: one network CA, one certificate per node.

`prum-exchange pki init DIR --nodes GB,DE,FR` writes `ca.pem` (the network CA) and, for each
node, `<ID>.pem` and `<ID>.key`: an ECDSA P-256 certificate whose subject common name is the
node id (ISO 3166 alpha-2, `EUROPOL`, `INTERPOL`), valid for both TLS server and client
authentication, for the loopback names `localhost` and `127.0.0.1`. Nodes authenticate each
other with these (mutual TLS); the partner API checks that a message's sender is the node
named in the client certificate. Real deployments use certificates from the network's own
CA; this module only makes a working stand-in, with `cryptography` (pyca).

`ssl_server_context` and `ssl_client_context` build the `ssl` contexts from such files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.countries import ALPHA2

VALID_DAYS = 825


@dataclass(frozen=True, slots=True)
class NodeFiles:
    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prum-exchange test network"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def _ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("prum-exchange network CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _node_cert(
    node_id: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(node_id))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


NON_STATE_NODES = ("EUROPOL", "INTERPOL")


def node_id_problem(node_id: str) -> str | None:
    """Why `node_id` is no node id (an assigned ISO 3166 alpha-2 code, EUROPOL, INTERPOL)."""
    if node_id in NON_STATE_NODES or node_id in ALPHA2:
        return None
    return f"{node_id!r} is not a node id (ISO 3166 alpha-2, {' or '.join(NON_STATE_NODES)})"


def pki_files(directory: Path, nodes: list[str]) -> list[Path]:
    """The files `init_pki` writes: the CA's, then each node's certificate and key."""
    names = ["ca.pem", "ca.key", *(f"{n}.{ext}" for n in nodes for ext in ("pem", "key"))]
    return [directory / name for name in names]


def init_pki(directory: Path, nodes: list[str], now: dt.datetime) -> dict[str, NodeFiles]:
    """Create a CA and a certificate per node in `directory`; returns the files per node."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _ca(now)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, directory / "ca.key")
    out = {}
    for node_id in nodes:
        key, cert = _node_cert(node_id, ca_key, ca, now)
        cert_path, key_path = directory / f"{node_id}.pem", directory / f"{node_id}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        out[node_id] = NodeFiles(ca_path, cert_path, key_path)
    return out


def ssl_server_context(files: NodeFiles) -> ssl.SSLContext:
    """A server context that requires a client certificate signed by the network CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def ssl_client_context(files: NodeFiles) -> ssl.SSLContext:
    """A client context that verifies the server against the CA and presents our certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def peer_node_id(peercert: dict[str, object] | None) -> str | None:
    """The node id (subject common name) of a verified peer certificate (`getpeercert()`)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
