"""Helpers shared by the tests of the rendered Kubernetes manifests (monitoring and app_deploy)."""

from __future__ import annotations

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
