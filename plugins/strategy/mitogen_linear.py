# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: mitogen_linear
short_description: Mitogen's linear strategy, with the list of installed collections read once per run
version_added: 0.1.0
description:
  - Mitogen's C(mitogen_linear) strategy, where one persistent interpreter per host runs every task
    instead of a new Python process per task.
  - The noxfile uses it for the deploy, plan, rollback, destroy, integration and dr-drill sessions.
    C(GIFTCRYPTO_MITOGEN=0) turns it off.
  - Fills one gap of Mitogen. To run a module of a collection, Mitogen's planner lists every installed
    collection and imports each one's package. It does this in the worker process that Ansible forks
    for each task, so nothing of it is kept. The C(ansible) package bundles about a hundred
    collections, and that listing took 6 s of a 96 s no-op C(deploy-local) (C(docs/benchmarks.md)).
  - This strategy lists the collections once in the controller, before the first worker is forked,
    and keeps the list for the run. Every worker inherits the list and the imported packages.
    Collections installed while the run goes on are not seen until the next run.
  - For the same reason (workers are forked per task, and what they load is lost), the strategy loads
    in the controller, before forking, the lookup plugins that a task names (C(lookup('name'\, ...)),
    C(query), C(with_name)). For the amazon.aws lookups that call AWS it also parses botocore's model
    of their service once, in the cache that C(giftcrypto.platform.botocore_model_cache) describes.
    Every worker inherits them instead of importing and parsing them again. This took 3 s of a no-op
    C(deploy-local), mostly the Secrets Manager lookups of the data servers.
  - Behaves otherwise exactly as C(mitogen_linear). Plays and tasks run in the same order with the
    same results.
author:
  - GiftCrypto platform team
requirements:
  - mitogen (the C(ansible_mitogen) package; a dependency of the project's environment)
"""

import re

import ansible.collections.list
from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible.utils.display import Display

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear
except ImportError as error:  # pragma: no cover - the environment always has it
    raise AnsibleError(
        "giftcrypto.platform.mitogen_linear needs mitogen (pip install mitogen; it is a dependency in "
        "pyproject.toml), or run with GIFTCRYPTO_MITOGEN=0 for Ansible's own linear strategy"
    ) from error

_ORIGINAL = ansible.collections.list.list_collection_dirs
_ALL: list[bytes] = []


def _list_collection_dirs(search_paths=None, coll_filter=None, artifacts_manager=None, dedupe=True):
    """list_collection_dirs, the default call (the one Mitogen's planner makes) answered from the list."""
    if search_paths is None and coll_filter is None and artifacts_manager is None and dedupe:
        if not _ALL:
            _ALL.extend(_ORIGINAL())
        return iter(_ALL)
    return _ORIGINAL(search_paths, coll_filter, artifacts_manager=artifacts_manager, dedupe=dedupe)


# lookup('name', ...), query('name', ...), q('name', ...) in a task's templates.
_LOOKUP_CALL = re.compile(r"""\b(?:lookup|query|q)\(\s*['"]([A-Za-z_][\w.]*)['"]""")
# The amazon.aws lookups that call AWS, and the service each one's client is for.
_AWS_LOOKUP_SERVICES = {
    "amazon.aws.secretsmanager_secret": "secretsmanager",  # pragma: allowlist secret
    "amazon.aws.aws_secret": "secretsmanager",  # pragma: allowlist secret
    "amazon.aws.ssm_parameter": "ssm",
    "amazon.aws.aws_ssm": "ssm",
    "amazon.aws.aws_account_attribute": "ec2",
}
_LOADED: set[str] = set()
display = Display()


def _strings(value):
    """Every string in a task's (nested) arguments, conditions and variables."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _lookup_names(task) -> set[str]:
    names = set()
    for text in _strings([task.args, task.loop, task.when, task.vars]):
        names.update(_LOOKUP_CALL.findall(text))
    if task.loop_with:
        names.add(task.loop_with)
    return names


def _parse_service_model(service: str) -> None:
    """botocore's model of the service (and endpoints, partitions), parsed into the shared cache."""
    import botocore.session
    from ansible_collections.giftcrypto.platform.plugins.module_utils.botocore_models import share

    share()
    # Building a client parses the models and calls nothing: placeholder credentials, no request.
    unused = "unused-placeholder"
    botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id=unused, aws_secret_access_key=unused
    )


def _load_lookups(task) -> None:
    """Loads in the controller the lookups the task names, once each, so that its worker inherits them."""
    for name in _lookup_names(task) - _LOADED:
        _LOADED.add(name)
        try:
            plugin = lookup_loader.get(name)
            resolved = getattr(plugin, "ansible_name", name) if plugin else name
            service = _AWS_LOOKUP_SERVICES.get(resolved) or _AWS_LOOKUP_SERVICES.get(name)
            if service:
                _parse_service_model(service)
        except Exception as error:  # a speed-up only: the worker loads it (and reports errors) as usual
            display.vvv(f"giftcrypto.platform.mitogen_linear: lookup {name} not preloaded: {error}")


class StrategyModule(MitogenLinear):
    def run(self, iterator, play_context, result=0):
        ansible.collections.list.list_collection_dirs = _list_collection_dirs
        # Read (and import) in the controller, so that every worker forked from now on inherits it.
        _list_collection_dirs()
        return super().run(iterator, play_context, result)

    def _queue_task(self, host, task, task_vars, play_context):
        _load_lookups(task)
        return super()._queue_task(host, task, task_vars, play_context)
