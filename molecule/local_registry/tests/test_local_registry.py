# ruff: noqa: S603, S607  (a test runs podman)
"""The scenario's registry: the Registry HTTP API V2 on loopback only, as its own user, and an image
pushed with podman read back by its digest (what app_deploy does with the API's image)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import tarfile
import urllib.request

import pytest

PORT = 25000
REGISTRY = f"127.0.0.1:{PORT}"
PODMAN = ("podman", "--runtime", "runc")
MANIFEST = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def _get(path: str, method: str = "GET"):
    request = urllib.request.Request(f"http://{REGISTRY}{path}", method=method, headers={"Accept": MANIFEST})
    return urllib.request.urlopen(request, timeout=10)  # noqa: S310 (the scenario's loopback registry)


def test_the_api_answers():
    with _get("/v2/") as response:
        assert response.status == 200
        assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_listens_on_loopback_only(host):
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_runs_as_its_own_user(host):
    pid = host.file("/run/giftcrypto-registry-molecule/registry.pid").content_string.strip()
    assert host.check_output(f"ps -o user= -p {pid}").strip() == "docker-registry"


def test_configuration_and_storage(host):
    config = host.file("/etc/giftcrypto/registry-molecule/config.yml")
    assert config.mode == 0o644 and config.user == "root"
    assert f"addr: 127.0.0.1:{PORT}" in config.content_string
    data = host.file("/var/lib/giftcrypto-registry-molecule")
    assert data.is_directory and data.user == "docker-registry" and data.mode == 0o750


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """A one-file image imported with podman and pushed to the scenario's registry by tag."""
    if subprocess.run(["which", "podman"], capture_output=True, check=False).returncode != 0:
        pytest.fail(
            "podman is not installed: app_deploy installs it; run the app_deploy scenario "
            "or apt-get install podman"
        )
    work = tmp_path_factory.mktemp("image")
    content = work / "hello.txt"
    content.write_text("giftcrypto local registry\n")
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(content, arcname="hello.txt")
    reference = f"{REGISTRY}/molecule/hello:1"
    subprocess.run([*PODMAN, "import", "--quiet", str(archive), reference], check=True, capture_output=True)
    digest_file = work / "digest"
    pushed = subprocess.run(
        [*PODMAN, "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), reference],
        check=False,
        capture_output=True,
        text=True,
    )
    assert pushed.returncode == 0, pushed.stderr
    yield digest_file.read_text().strip()
    subprocess.run([*PODMAN, "rmi", "--force", reference], check=False, capture_output=True)


def test_an_image_pushed_by_tag_is_served_by_its_digest(pushed):
    with _get("/v2/molecule/hello/manifests/1", method="HEAD") as response:
        assert response.headers["Docker-Content-Digest"] == pushed
    with _get(f"/v2/molecule/hello/manifests/{pushed}") as response:
        manifest = json.loads(response.read())
    assert manifest["schemaVersion"] == 2
    with _get("/v2/molecule/hello/tags/list") as response:
        assert json.loads(response.read())["tags"] == ["1"]


def test_the_storage_holds_the_pushed_repository():
    assert pathlib.Path(
        "/var/lib/giftcrypto-registry-molecule/docker/registry/v2/repositories/molecule/hello"
    ).is_dir()
