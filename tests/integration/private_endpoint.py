"""The integration tests that need no deployed platform, on an AWS endpoint of their own.

A pytest plugin (``-p tests.integration.private_endpoint``, ``nox -s preflight``) for the tests whose
runs are refused before any change (test_preflight, test_preflight_application,
test_production_approval): a bad inventory never gets past the preflight play, so what those tests
need of the local environment is an AWS endpoint to snapshot before and after the refused runs, not
the deployed platform. The suite runs them in its first phase, beside the Molecule scenarios that
share this machine's servers, instead of on the integration tests' critical path (docs/benchmarks.md,
"CI time (2026-12-06, night)").

What it starts, before the test modules are imported, and stops at the end:

- the local AWS endpoint (roles/local_aws_endpoint/files/aws_endpoint.py: moto with the platform's
  fidelity layer, as the local_aws_endpoint role runs it) on a free loopback port (no port of the
  deployed services: the shared endpoint on 4566 is the Molecule scenario app_deploy's at that time);
- a copy of inventories/local whose ``aws_endpoint_url`` and ``local_aws_endpoint_port`` name it
  (GIFTCRYPTO_INVENTORY), edited in place in group_vars/all/platform.yml, so that a case that sets
  either of them (``endpoint_not_loopback``) still overrides it.

"Nothing changed" is then checked against an endpoint holding nothing: a refused run that created
anything at all (a VPC, a key, a bucket...) shows in the snapshot, where on the deployed platform a
run that got past preflight could find everything in place and change nothing.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import tempfile

from tests import local_endpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = pathlib.Path(tempfile.mkdtemp(prefix="giftcrypto-private-endpoint-"))
INVENTORY = WORK / "inventory"

_state: dict = {}


def _inventory(port: int) -> None:
    """inventories/local copied, its endpoint (platform.yml) moved to `port`."""
    shutil.copytree(ROOT / "inventories" / "local", INVENTORY)
    platform = INVENTORY / "group_vars" / "all" / "platform.yml"
    text = platform.read_text()
    for pattern, replacement in (
        (
            r'(?m)^aws_endpoint_url: "http://127\.0\.0\.1:4566"$',
            f'aws_endpoint_url: "http://127.0.0.1:{port}"',
        ),
        (r"(?m)^local_aws_endpoint_port: 4566$", f"local_aws_endpoint_port: {port}"),
    ):
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise RuntimeError(f"{platform}: expected one line matching {pattern!r}, found {count}")
    platform.write_text(text)


# conftest reads GIFTCRYPTO_INVENTORY when it is imported (before pytest_configure): the copy is
# written now and named to it.
PORT = local_endpoint.free_port()
_inventory(PORT)
os.environ["GIFTCRYPTO_INVENTORY"] = str(INVENTORY)


def pytest_configure(config):
    """The endpoint as the role starts it (same launcher, same arguments), up before any test."""
    _state["endpoint"], _ = local_endpoint.start(PORT, WORK)


def pytest_report_header(config):
    return [f"refused runs against an AWS endpoint of their own on 127.0.0.1:{PORT} (private_endpoint.py)"]


def pytest_unconfigure(config):
    if "endpoint" in _state:
        local_endpoint.stop(_state.pop("endpoint"))
    shutil.rmtree(WORK, ignore_errors=True)
