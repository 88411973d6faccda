"""Starting the local AWS endpoint (roles/local_aws_endpoint/files/aws_endpoint.py: moto with the
platform's fidelity layer) as the local_aws_endpoint role starts it, and free loopback ports that
stay clear of this machine's services; shared by the tests that run an endpoint of their own
(tests/unit/test_local_aws_endpoint_fidelity.py, tests/integration/private_endpoint.py) or servers
of their own (tests/integration/postgres17.py)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "roles" / "local_aws_endpoint" / "files" / "aws_endpoint.py"
# Ports of the services deployed on this machine (and of the Molecule scenarios sharing them).
RESERVED = {4566, 5432, 6379, 6432, *range(5000, 5101), *range(9090, 9201)}


def free_port() -> int:
    """A free TCP port on loopback, none of RESERVED."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in RESERVED:
            return port


def start(port: int, state: pathlib.Path) -> tuple[subprocess.Popen, pathlib.Path]:
    """The launcher on 127.0.0.1:port (same Python, same arguments as the role), its TLS files and
    log in state; returns (process, log) once it answers /_giftcrypto/fidelity (60 s at most)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"
    log = state / "moto.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                str(LAUNCHER),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--tls-certificate",
                str(state / "tls.pem"),
                "--tls-key",
                str(state / "tls.key"),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_giftcrypto/fidelity", timeout=5):
                return process, log
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the AWS endpoint did not answer on {port}: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
