"""Helpers shared by the tests of the rendered Kubernetes manifests (monitoring and app_deploy)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import yaml


def unreachable_kubeconfig(directory: Path) -> Path:
    """A kubeconfig whose only cluster (context "nowhere") listens on no port: nothing answers."""
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "nobody", "user": {"token": "none"}}],
                "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
                "current-context": "nowhere",
            }
        ),
        encoding="utf-8",
    )
    return kubeconfig


@contextlib.contextmanager
def moto_server() -> Iterator[dict]:
    """A moto server of its own on a free loopback port: boto3's client options for it (with
    `endpoint_url`), stopped on exit."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield {
            "region_name": "us-east-1",
            "endpoint_url": f"http://{host}:{port}",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",  # pragma: allowlist secret
        }
    finally:
        server.stop()
