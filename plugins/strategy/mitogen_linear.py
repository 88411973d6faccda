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
  - Behaves otherwise exactly as C(mitogen_linear). Plays and tasks run in the same order with the
    same results.
author:
  - GiftCrypto platform team
requirements:
  - mitogen (the C(ansible_mitogen) package; a dependency of the project's environment)
"""

import ansible.collections.list
from ansible.errors import AnsibleError

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


class StrategyModule(MitogenLinear):
    def run(self, iterator, play_context, result=0):
        ansible.collections.list.list_collection_dirs = _list_collection_dirs
        # Read (and import) in the controller, so that every worker forked from now on inherits it.
        _list_collection_dirs()
        return super().run(iterator, play_context, result)
