"""The cluster's PKI: a CA, the API server's serving certificate, and client certificates.

Where it sits: ``kubeclass up`` creates these once in the cluster's data directory, and
``kubeclass provision`` on the controller machine before it copies them to the hosts;
so this package belongs to neither side and imports neither. The API server serves TLS
with them and verifies client certificates against the CA; the kubeconfig carries the
CA and the admin's client certificate.

As in kubeadm: the server certificate names every address clients use (a
certificate without the right Subject Alternative Name fails Go's verification),
and a client certificate's CN is the user name and its O entries are the groups.
Keys are ECDSA P-256: small, fast to make, and accepted by Go and Python.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 365


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_ca(common_name: str = "kubeclass-ca") -> tuple[bytes, bytes]:
    """A self-signed CA: (certificate PEM, key PEM)."""
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def new_cert(ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str, *, organizations: Iterable[str] = (),
             dns_names: Iterable[str] = (), ips: Iterable[str] = (), server: bool = False,
             client: bool = False, days: int = CERT_DAYS) -> tuple[bytes, bytes]:
    """A certificate signed by the CA: (certificate PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    names = [x509.DNSName(d) for d in dns_names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def write_private(path: str, data: bytes) -> None:
    """Write a file only its owner can read (keys, tokens), atomically."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure_cluster_pki(directory: str, *, server_dns: Iterable[str], server_ips: Iterable[str],
                       admin_user: str = "kubeclass-admin") -> dict[str, str]:
    """Create (once) the CA, the API server's certificate and the admin's client certificate."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in (
        "ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key")}
    if not os.path.exists(paths["ca.crt"]):
        cert, key = new_ca()
        write_private(paths["ca.key"], key)
        write_private(paths["ca.crt"], cert)
    ca_cert, ca_key = open(paths["ca.crt"], "rb").read(), open(paths["ca.key"], "rb").read()
    if not os.path.exists(paths["apiserver.crt"]):
        cert, key = new_cert(ca_cert, ca_key, "kube-apiserver", dns_names=server_dns, ips=server_ips, server=True)
        write_private(paths["apiserver.key"], key)
        write_private(paths["apiserver.crt"], cert)
    if not os.path.exists(paths["admin.crt"]):
        cert, key = new_cert(ca_cert, ca_key, admin_user, organizations=["system:masters"], client=True)
        write_private(paths["admin.key"], key)
        write_private(paths["admin.crt"], cert)
    return paths
