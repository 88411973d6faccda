"""The fidelity layer of the local AWS endpoint: where moto answers differently from AWS, a fix.

Each fix makes moto answer one thing our playbooks use as the AWS API reference documents it (a
field AWS always returns, an error code, an operation moto lacks where a simple faithful version is
possible). Fixes use moto's own extension points:

- a backend subclass: every ``BackendDict`` of moto builds its per-account, per-region backends
  from its ``backend`` class, so ``extend_backend`` swaps in a subclass of it (the subclass keeps
  moto's module name, from which moto finds the service's URLs);
- a response subclass: moto's server routes each URL to the handler its ``urls.py`` lists, so
  ``route_responses`` points those handlers at a subclass of the service's response class.

Nothing rewrites an answer's text. ``apply()`` must run before the first request (the launcher,
``aws_endpoint.py``, calls it before it builds moto's application). Each fix is listed in
``FIXES`` with the API reference that it follows and whether upstream moto already has it; its
unit test is in ``tests/unit/test_local_aws_endpoint_fidelity.py``, and the table of fixes in
``docs/local-aws-endpoint.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Fix:
    """One difference from AWS, corrected."""

    service: str
    name: str
    summary: str
    reference: str
    upstream: str
    apply: Callable[[], None] = dataclasses.field(repr=False, compare=False)


def extend_backend(service_models: str, backends_name: str, mixin: type) -> type:
    """Makes ``<service_models>.<backends_name>`` build its backends from ``mixin`` over its class.

    Returns the new class. Backends already built keep their class: call this before any request.
    """
    module = importlib.import_module(service_models)
    backend_dict = getattr(module, backends_name)
    base = backend_dict.backend
    name = base.__name__ if base.__name__.startswith("Faithful") else f"Faithful{base.__name__}"
    extended = type(name, (mixin, base), {"__module__": base.__module__})
    backend_dict.backend = extended
    return extended


def route_responses(service_urls: str, base: type, subclass: type) -> int:
    """Points every handler of ``<service_urls>.url_paths`` bound to ``base`` at ``subclass``.

    moto's URL tables hold bound ``dispatch`` methods, of the class (a classmethod) or of one
    instance; the same method of ``subclass`` (or of one instance of it) replaces each. Returns the
    number of handlers rerouted.
    """
    module = importlib.import_module(service_urls)
    instance: Any = None
    rerouted = 0
    for path, handler in list(module.url_paths.items()):
        owner = getattr(handler, "__self__", None)
        if owner is base:
            module.url_paths[path] = getattr(subclass, handler.__name__)
        elif isinstance(owner, base) and not isinstance(owner, subclass):
            instance = instance or subclass()
            module.url_paths[path] = getattr(instance, handler.__name__)
        else:
            continue
        rerouted += 1
    if not rerouted:
        raise RuntimeError(f"no handler of {base.__name__} in {service_urls}: moto changed, check the fix")
    return rerouted


def moto_version() -> str:
    return importlib.import_module("moto").__version__


# The fidelity layer's modules, one per AWS service (each a FIXES list), in their order.
SERVICES = (
    "acm",
    "appconfig",
    "backup",
    "budgets",
    "ce",
    "cloudfront",
    "cognito_idp",
    "config",
    "ec2",
    "eks",
    "elasticache",
    "elbv2",
    "kms",
    "rds",
    "s3",
    "s3_policy",
    "secretsmanager",
    "wafv2",
)


def _fixes() -> list[Fix]:
    services = [importlib.import_module(f".{name}", __name__) for name in SERVICES]
    return [fix for service in services for fix in service.FIXES]


FIXES: list[Fix] = _fixes()
_applied = False


def apply() -> list[Fix]:
    """Applies every fix once (later calls do nothing) and returns them."""
    global _applied
    if not _applied:
        for fix in FIXES:
            fix.apply()
        _applied = True
    return FIXES
