"""A self-signed certificate for localhost, made with ``cryptography``, for ``serve(tls=True)``."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile

__all__ = ["make_self_signed", "server_ssl_context"]


def make_self_signed(host: str = "127.0.0.1", days: int = 30) -> tuple[bytes, bytes]:
    """A PEM certificate and key valid for localhost, 127.0.0.1, ::1 and ``host``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rtnb localhost")])
    alt: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        if x509.IPAddress(ip) not in alt:
            alt.append(x509.IPAddress(ip))
    except ValueError:
        if host and host != "localhost":
            alt.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def server_ssl_context(host: str) -> tuple[ssl.SSLContext, str]:
    """A server SSL context with a fresh self-signed certificate, and the path of
    that certificate as a CA file clients can trust (``cafile=``).

    The private key lives only in the context: its file is removed once loaded.
    """
    cert_pem, key_pem = make_self_signed(host)
    folder = tempfile.mkdtemp(prefix="rtnb-tls-")
    cert_path = os.path.join(folder, "cert.pem")
    key_path = os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert_path, key_path)
    finally:
        os.unlink(key_path)  # the key of a CA certificate: don't leave it on disk
    return ctx, cert_path
