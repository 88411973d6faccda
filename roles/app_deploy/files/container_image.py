# ruff: noqa: S603, S607  (a build tool: it runs podman, mmdebstrap, apt-get and pip with arguments it builds)
"""The GiftCrypto API's container image, built here from nothing and pushed to a registry by digest.

    container_image.py ensure --source service --registry 127.0.0.1:5000 --repository giftcrypto/api
    container_image.py context --source service --output /tmp/context     (what CI builds)
    container_image.py smoke --image 127.0.0.1:5000/giftcrypto/api@sha256:... --port 18080

`ensure` prints one JSON object: the image's tag (the service's version and a digest of the files
the image is built from: a changed source, lock or Containerfile is a new tag, an unchanged one is
not), its registry digest, the reference by digest, and whether it built anything. When the
registry already holds the tag it builds nothing and pushes nothing (one HTTP request): the no-op
deploy stays fast. Otherwise it

1. installs what it needs when missing (dpkg-query first, apt-get only for what is missing):
   podman, runc, mmdebstrap; and sets `default_ulimits = []` under `[containers]` in podman's
   system-wide containers.conf (the defaults podman asks for are refused on these machines) and
   the loopback registry as an insecure (plain HTTP) one in registries.conf.d;
2. makes the pinned base: a Debian bookworm minbase root file system built by mmdebstrap from
   Debian's packages (public image registries cannot be reached here), cached as a tarball keyed by
   what built it (mmdebstrap's version, its arguments, the week) and imported with `podman import`
   under a tag that is that key;
3. builds service/Containerfile with podman on runc (crun fails here), from a context holding the
   service's wheel and the wheels of requirements.lock, which pip downloads on this host (its
   network and trust store; the build itself needs only Debian's mirror);
4. pushes the tag and reads the digest the registry gives it.

`--check` does none of that: it says whether a build would happen (check mode, plans).

`smoke` starts a container of an image on a loopback port and waits for /healthz (200) and
/readyz (200, or 503 with the JSON naming what is not ready when the data servers are not there):
both endpoints must answer. The container is removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PACKAGES = ("podman", "runc", "mmdebstrap", "uidmap")
CONTAINERS_CONF = pathlib.Path("/etc/containers/containers.conf")
REGISTRIES_DIR = pathlib.Path("/etc/containers/registries.conf.d")
BASE_CACHE = pathlib.Path("/var/cache/giftcrypto/image-base")
BASE_REPOSITORY = "localhost/giftcrypto/debian-base"
SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Files of the service that make the image (the same list the build context gets).
CONTEXT_FILES = ("Containerfile", "pyproject.toml", "README.md", "requirements.lock")
PODMAN = ("podman", "--runtime", "runc")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    log("+ " + " ".join(argv))
    return subprocess.run(argv, check=True, **kwargs)


# --- what the image is made of -------------------------------------------------------------------
def source_files(source: pathlib.Path) -> list[pathlib.Path]:
    files = [source / name for name in CONTEXT_FILES]
    files += sorted(
        p
        for p in (source / "src").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    return files


def source_digest(source: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for path in source_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def version(source: pathlib.Path) -> str:
    text = (source / "src" / "giftcrypto_api" / "__init__.py").read_text()
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    if not match:
        raise SystemExit(f"no __version__ in {source}/src/giftcrypto_api/__init__.py")
    return match.group(1)


# --- the registry (Docker Registry HTTP API V2, as ECR and distribution serve it) ------------------
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


def registry_digest(registry: str, repository: str, reference: str) -> str:
    """The digest the registry serves for a tag, or '' when it has no such tag."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{reference}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback registry)
            return response.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return ""
        raise


# --- what this host needs ------------------------------------------------------------------------
def missing_packages(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Abbrev}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.split()[1:2] == ["ii"]}
    return [p for p in packages if p not in installed]


def ensure_packages() -> bool:
    missing = missing_packages()
    if not missing:
        return False
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing Debian packages {', '.join(missing)}: run `sudo apt-get install {' '.join(missing)}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)
    return True


def ensure_containers_conf(registry: str) -> bool:
    """default_ulimits = [] under [containers]; the loopback registry as plain HTTP. True if changed."""
    changed = False
    text = CONTAINERS_CONF.read_text() if CONTAINERS_CONF.exists() else ""
    if not re.search(r"(?m)^\s*default_ulimits\s*=\s*\[\s*\]", text):
        if re.search(r"(?m)^\[containers\]\s*$", text):
            text = re.sub(r"(?m)^\s*default_ulimits\s*=.*\n?", "", text)
            text = re.sub(r"(?m)^\[containers\]\s*$", "[containers]\ndefault_ulimits = []", text, count=1)
        else:
            text = (
                text
                + ("\n" if text and not text.endswith("\n") else "")
                + "[containers]\ndefault_ulimits = []\n"
            )
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text(text)
        changed = True
    if registry:
        # One file per registry (the deploy's and `nox -s image`'s throwaway one do not overwrite each other).
        drop_in = REGISTRIES_DIR / f"50-giftcrypto-{re.sub(r'[^A-Za-z0-9]+', '-', registry)}.conf"
        wanted = (
            "# The local registry standing in for ECR (giftcrypto.platform.local_registry):\n"
            "# plain HTTP on loopback.\n"
            f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n'
        )
        legacy = REGISTRIES_DIR / "50-giftcrypto-local-registry.conf"  # one file for every registry, before
        if legacy.exists():
            legacy.unlink()
            changed = True
        if not drop_in.exists() or drop_in.read_text() != wanted:
            REGISTRIES_DIR.mkdir(parents=True, exist_ok=True)
            drop_in.write_text(wanted)
            changed = True
    return changed


# --- the base image -------------------------------------------------------------------------------
def mmdebstrap_args(tarball: pathlib.Path) -> list[str]:
    return [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        '--aptopt=Apt::Install-Recommends "false"',
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        SUITE,
        str(tarball),
        *MIRRORS,
    ]


def base_key(today: datetime.date | None = None) -> str:
    """What built the base: mmdebstrap's version and arguments, and the ISO week (security updates
    reach the base within a week; within it, the tarball is reused)."""
    mmdebstrap = subprocess.run(
        ["mmdebstrap", "--version"], capture_output=True, text=True, check=True
    ).stdout
    year, number = (today or datetime.date.today()).isocalendar()[:2]
    week = f"{year}-W{number:02d}"
    material = json.dumps(
        {"mmdebstrap": mmdebstrap.strip(), "args": mmdebstrap_args(pathlib.Path("x")), "week": week}
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def image_exists(reference: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", reference], check=False).returncode == 0


def ensure_base() -> tuple[str, bool]:
    key = base_key()
    reference = f"{BASE_REPOSITORY}:{SUITE}-{key}"
    if image_exists(reference):
        return reference, False
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    tarball = BASE_CACHE / f"{SUITE}-{key}.tar"
    if not tarball.exists():
        for stale in BASE_CACHE.glob(f"{SUITE}-*.tar"):
            stale.unlink()
        partial = tarball.with_suffix(".partial")
        run(*mmdebstrap_args(partial))
        partial.rename(tarball)
    run(
        *PODMAN,
        "import",
        "--quiet",
        "--change",
        'CMD ["/bin/bash"]',
        str(tarball),
        reference,
        stdout=subprocess.DEVNULL,
    )
    return reference, True


# --- build and push -------------------------------------------------------------------------------
def git_revision(source: pathlib.Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    revision = result.stdout.strip()
    return revision if re.fullmatch(r"[0-9a-f]{40}", revision) else ""


def build_context(source: pathlib.Path, context: pathlib.Path) -> None:
    for name in CONTEXT_FILES:
        shutil.copy2(source / name, context / name)
    shutil.copytree(source / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = context / "wheels"
    # pip of this host, with its own network settings and trust store; the image's platform
    # (CPython 3.11 on glibc x86_64, Debian bookworm) is the host's.
    pip = (sys.executable, "-m", "pip")
    download = ("download", "--quiet", "--require-hashes", "--only-binary=:all:", "--no-deps")
    run(
        *pip,
        *download,
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "any",
        "-r",
        str(context / "requirements.lock"),
        "-d",
        str(wheels),
        env={**os.environ, "PIP_CONSTRAINT": ""},
    )
    dist = context / "dist"
    run(
        *pip,
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        str(dist),
        str(context),
        env={**os.environ, "PIP_CONSTRAINT": ""},
    )


def build_and_push(source: pathlib.Path, base: str, image: str, tag: str, digest_file: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory(prefix="giftcrypto-image-") as tmp:
        context = pathlib.Path(tmp)
        build_context(source, context)
        run(
            *PODMAN,
            "build",
            "--quiet",
            "--network",
            "host",
            "--layers",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--build-arg",
            f"GIT_REVISION={git_revision(source)}",
            "--build-arg",
            f"VERSION={tag}",
            "--tag",
            f"{image}:{tag}",
            "--file",
            str(context / "Containerfile"),
            str(context),
            stdout=subprocess.DEVNULL,
        )
    run(*PODMAN, "push", "--quiet", "--digestfile", str(digest_file), f"{image}:{tag}")


def ensure(args: argparse.Namespace) -> dict:
    source = pathlib.Path(args.source).resolve()
    tag = f"{version(source)}-{source_digest(source)[:12]}"
    image = f"{args.registry}/{args.repository}"
    result = {
        "tag": tag,
        "version": version(source),
        "image": image,
        "built": False,
        "digest": "",
        "reference": "",
    }
    try:
        result["digest"] = registry_digest(args.registry, args.repository, tag)
    except (urllib.error.URLError, OSError) as error:
        if not args.check:
            raise SystemExit(f"the registry {args.registry} does not answer: {error}") from error
        result["registry_error"] = str(error)
    if args.check:
        result["built"] = not result["digest"]
        return result
    # Cheap (dpkg-query, two small files): also on a no-op, since the colours' podman needs them.
    result["host_changed"] = ensure_packages() | ensure_containers_conf(args.registry)
    if not result["digest"]:
        result["built"] = True
        base = ensure_base()[0]
        with tempfile.TemporaryDirectory() as tmp:
            digest_file = pathlib.Path(tmp) / "digest"
            build_and_push(source, base, image, tag, digest_file)
            pushed = digest_file.read_text().strip()
        served = registry_digest(args.registry, args.repository, tag)
        if served != pushed:
            raise SystemExit(f"the registry serves {served or 'nothing'} for {image}:{tag}, pushed {pushed}")
        result["digest"] = served
    result["reference"] = f"{image}@{result['digest']}"
    # The colours start with --pull never: the image is in podman's storage before the switch.
    if not image_exists(result["reference"]):
        run(*PODMAN, "pull", "--quiet", result["reference"], stdout=subprocess.DEVNULL)
        result["pulled"] = True
    return result


# --- smoke test -----------------------------------------------------------------------------------
def smoke(args: argparse.Namespace) -> dict:
    name = f"giftcrypto-api-smoke-{os.getpid()}"
    env = []
    for item in args.env:
        env += ["--env", item]
    mounts = []
    for path in args.mount:
        mounts += ["--volume", f"{path}:{path}:ro"]
    run(
        *PODMAN,
        "run",
        "--detach",
        "--replace",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        *env,
        *mounts,
        args.image,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        stdout=subprocess.DEVNULL,
    )
    answers: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + args.timeout
        for path in ("/healthz", "/readyz"):
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{args.port}{path}", timeout=3) as response:
                        answers[path] = {"status": response.status, "body": json.loads(response.read())}
                except urllib.error.HTTPError as error:
                    answers[path] = {"status": error.code, "body": json.loads(error.read() or b"{}")}
                except (urllib.error.URLError, OSError, ValueError) as error:
                    if time.monotonic() > deadline:
                        logs = subprocess.run(
                            [*PODMAN, "logs", name], capture_output=True, text=True, check=False
                        )
                        raise SystemExit(
                            f"{path} did not answer within {args.timeout} s ({error}); logs:\n"
                            f"{logs.stdout}{logs.stderr}"
                        ) from error
                    time.sleep(0.5)
                    continue
                break
        user = subprocess.run(
            [*PODMAN, "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        ).stdout.strip()
        answers["user"] = {"uid": int(user)}
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time", "10", name], capture_output=True, check=False)
    if answers["/healthz"]["status"] != 200:
        raise SystemExit(f"/healthz answered {answers['/healthz']}")
    if answers["/readyz"]["status"] not in (200, 503) or "status" not in answers["/readyz"]["body"]:
        raise SystemExit(f"/readyz answered {answers['/readyz']}")
    if answers["user"]["uid"] == 0:
        raise SystemExit("the container runs as root")
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ensure_parser = commands.add_parser(
        "ensure", help="build and push the image unless the registry has its tag"
    )
    ensure_parser.add_argument("--source", required=True, help="the service's directory (service/)")
    ensure_parser.add_argument(
        "--registry", required=True, help="host:port of the registry (plain HTTP, loopback)"
    )
    ensure_parser.add_argument(
        "--repository", required=True, help="repository in the registry, e.g. giftcrypto/api"
    )
    ensure_parser.add_argument(
        "--check", action="store_true", help="say whether it would build; change nothing"
    )
    context_parser = commands.add_parser(
        "context", help="write the build context (CI builds it with its own engine)"
    )
    context_parser.add_argument("--source", required=True, help="the service's directory (service/)")
    context_parser.add_argument("--output", required=True, help="an empty or missing directory")
    smoke_parser = commands.add_parser("smoke", help="start a container and ask /healthz and /readyz")
    smoke_parser.add_argument("--image", required=True)
    smoke_parser.add_argument("--port", type=int, default=18080)
    smoke_parser.add_argument("--timeout", type=float, default=60.0)
    smoke_parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the container")
    smoke_parser.add_argument("--mount", action="append", default=[], help="a host file mounted read-only")
    args = parser.parse_args(argv)
    if args.command == "context":
        output = pathlib.Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        source = pathlib.Path(args.source).resolve()
        build_context(source, output)
        result = {"context": str(output), "tag": f"{version(source)}-{source_digest(source)[:12]}"}
    else:
        result = ensure(args) if args.command == "ensure" else smoke(args)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
