"""The local AWS endpoint: moto's server with the fidelity layer of giftcrypto.platform.

Same command line as ``moto_server`` (``--host``, ``--port``): it imports moto, applies the fixes
of the ``moto_fidelity`` package beside this file (each makes moto answer one call as the AWS API
reference documents it), then serves moto's WSGI application with moto's own request handler.
With ``--tls-certificate`` and ``--tls-key`` the one port answers HTTPS as well as plain HTTP (the
first byte of a connection tells a TLS handshake), as AWS endpoints answer HTTPS: a request that
came over TLS is ``https`` to moto (``aws:SecureTransport`` of a bucket policy). A certificate and
key that do not exist yet are made once, self-signed for the loopback names; clients trust that
certificate (their CA bundle).
Environment variables (``MOTO_IAM_LOAD_MANAGED_POLICIES``, ...) are read by moto as with
``moto_server``. ``--list-fixes`` prints the fixes and exits.

Started in the background by the ``local_aws_endpoint`` role (``tasks/present.yml``); test
infrastructure only, never a stand-in for anything but AWS.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import signal
import socket
import ssl
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import moto_fidelity


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument("--list-fixes", action="store_true", help="print the fidelity fixes and exit")
    parser.add_argument("--tls-certificate", type=pathlib.Path, help="PEM certificate (made if absent)")
    parser.add_argument("--tls-key", type=pathlib.Path, help="PEM private key (made if absent)")
    return parser.parse_args(argv)


def ensure_certificate(certificate: pathlib.Path, key: pathlib.Path, host: str) -> None:
    """Makes once a self-signed ECDSA P-256 certificate for localhost, 127.0.0.1, ::1 and ``host``."""
    if certificate.exists() and key.exists():
        return
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GiftCrypto local AWS endpoint")])
    addresses = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"), ipaddress.ip_address(host)}
    now = datetime.datetime.now(datetime.UTC)
    public = private.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), *(x509.IPAddress(a) for a in sorted(addresses, key=str))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    certificate.parent.mkdir(parents=True, exist_ok=True)
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def handler_class(tls: ssl.SSLContext | None):
    """moto's request handler; with a TLS context, a connection that opens with a TLS handshake
    (first byte 0x16, a TLS record of type handshake) is served over TLS, as ``https``."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    if tls is None:
        return MotoRequestHandler

    class DualProtocolRequestHandler(MotoRequestHandler):
        def setup(self) -> None:
            try:
                first = self.request.recv(1, socket.MSG_PEEK)
            except OSError:
                first = b""
            if first == b"\x16":
                self.request = tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def make_environ(self):
            environ = super().make_environ()
            if isinstance(self.connection, ssl.SSLSocket):
                environ["wsgi.url_scheme"] = "https"
            return environ

    return DualProtocolRequestHandler


# Outside every AWS API's paths: what the endpoint is (the role waits for it, and refuses an
# endpoint that does not answer it, such as a bare moto_server started by an older version).
FIDELITY_PATH = "/_giftcrypto/fidelity"


def make_app(tls: bool = False):
    """moto's WSGI application (every service, dispatched by host and path) with the fixes applied.

    ``GET /_giftcrypto/fidelity`` answers the moto version, whether the port serves TLS too, and
    the fixes, as JSON.
    """
    import json

    moto_fidelity.apply()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    about = json.dumps(
        {
            "moto": moto_fidelity.moto_version(),
            "tls": tls,
            "fixes": [{"service": fix.service, "name": fix.name} for fix in moto_fidelity.FIXES],
        }
    ).encode()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == FIDELITY_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(about)))]
            )
            return [about]
        return moto_app(environ, start_response)

    return app


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.list_fixes:
        for fix in moto_fidelity.FIXES:
            print(f"{fix.service}\t{fix.name}\t{fix.summary}")
        return 0
    # moto builds URLs of some answers (SQS queue URLs, ...) from this variable.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Where the rotation function the endpoint runs in process sends its Secrets Manager calls
    # (moto_fidelity.secretsmanager, plain HTTP on the same port).
    host = f"[{args.host}]" if ":" in args.host else args.host
    os.environ.setdefault(moto_fidelity.secretsmanager.ENDPOINT_URL_VARIABLE, f"http://{host}:{args.port}")
    from werkzeug.serving import run_simple

    tls = None
    if args.tls_certificate or args.tls_key:
        if not (args.tls_certificate and args.tls_key):
            print("--tls-certificate and --tls-key go together", file=sys.stderr)
            return 2
        ensure_certificate(args.tls_certificate, args.tls_key, args.host)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(args.tls_certificate, args.tls_key)
    app = make_app(tls=tls is not None)
    names = ", ".join(f"{fix.service}:{fix.name}" for fix in moto_fidelity.FIXES)
    print(
        f"moto {moto_fidelity.moto_version()} with {len(moto_fidelity.FIXES)} fidelity fixes: {names}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, app, threaded=True, request_handler=handler_class(tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
