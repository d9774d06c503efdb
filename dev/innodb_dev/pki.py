"""Certificates and keys for a loopback control plane: one CA, a serving cert, an SA key.

:func:`write_pki` makes the CA, the API server's serving certificate and the ServiceAccount
key; :func:`issue` signs further certificates with that CA: the API server's client
certificate for kubelets (``kubelet-client``) and the node agent's serving certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _sans(hosts: list[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return sans


def issue(directory: Path, name: str, *, common_name: str, organizations: tuple[str, ...] = (),
          hosts: list[str] | None = None, client: bool = False) -> tuple[Path, Path]:
    """``<name>.crt`` and ``<name>.key`` signed by the CA in ``directory`` (from :func:`write_pki`).

    A serving certificate (``hosts`` are its SANs) unless ``client``. An existing pair for the
    same subject and hosts is reused. Returns (certificate, key).
    """
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    marker = directory / f"{name}.for"
    wanted = f"{common_name};{','.join(organizations)};{','.join(hosts or [])};{client}"
    if cert_path.exists() and key_path.exists() and marker.exists() and marker.read_text() == wanted:
        return cert_path, key_path
    paths = _paths(directory)
    ca_cert = x509.load_pem_x509_certificate(paths["ca"].read_bytes())
    ca_key = serialization.load_pem_private_key(paths["ca_key"].read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = _key()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(hosts)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    marker.write_text(wanted)
    return cert_path, key_path


def write_pki(directory: Path, hosts: list[str]) -> dict[str, Path]:
    """Write ``ca.crt``, ``ca.key``, ``apiserver.crt/key`` (SANs: ``hosts``), ``sa.key/pub``.

    Returns the paths by those names (without extensions: ``ca``, ``ca_key``, ...). A directory
    that already holds them for the same ``hosts`` is reused (a kept environment restarts
    with the identities its stored objects refer to, e.g. the ``kube-root-ca.crt`` ConfigMaps).
    """
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "hosts"
    existing = _paths(directory)
    if marker.exists() and marker.read_text() == ",".join(hosts) and all(p.exists() for p in existing.values()):
        return existing
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "innodb-operator-test-ca")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    serving_key = _key()
    serving = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name).public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(_sans(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = _key()
    paths = _paths(directory)
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["ca_key"].write_bytes(_pem_key(ca_key))
    paths["serving"].write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    paths["serving_key"].write_bytes(_pem_key(serving_key))
    paths["sa_key"].write_bytes(_pem_key(sa_key))
    paths["sa_pub"].write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    for name in ("ca_key", "serving_key", "sa_key"):
        paths[name].chmod(0o600)
    marker.write_text(",".join(hosts))
    return paths


def _paths(directory: Path) -> dict[str, Path]:
    return {
        "ca": directory / "ca.crt",
        "ca_key": directory / "ca.key",
        "serving": directory / "apiserver.crt",
        "serving_key": directory / "apiserver.key",
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
    }
