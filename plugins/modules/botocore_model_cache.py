#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: botocore_model_cache
short_description: Keep botocore's parsed service models for the whole run of a persistent interpreter
version_added: 0.1.0
description:
  - Makes every botocore C(Loader) of the interpreter that runs the module share one cache of parsed
    service models, endpoints and partitions, instead of one cache per botocore session.
  - Fills a gap in how amazon.aws and botocore work together, not an API gap. amazon.aws creates a new
    botocore session for every task, and botocore caches what it parsed in that session only.
    Under Mitogen's strategy (the deploy, plan, rollback and destroy sessions of this collection) one
    interpreter runs every task of the run. Every AWS task then parses C(endpoints.json) and its
    service's model again. That took 13 s of a 96 s no-op C(deploy-local) (C(docs/benchmarks.md)).
  - The data is botocore's own, the same dictionaries that clients of one session already share
    read-only. A loader with other search paths (C(AWS_DATA_PATH)) gets a cache of its own.
  - Without a persistent interpreter (plain Ansible, one process per task) the module does nothing
    useful and costs one import of botocore.
  - Changes nothing outside the interpreter, so it never reports C(changed). It runs the same in
    check mode.
author:
  - GiftCrypto platform team
options: {}
notes:
  - Supports check mode (it changes no resource; the cache is installed in check mode too).
  - Diff does not apply (nothing is changed).
requirements:
  - botocore
"""

EXAMPLES = r"""
- name: Keep botocore's parsed models for the rest of the run (one interpreter under Mitogen)
  giftcrypto.platform.botocore_model_cache:
"""

RETURN = r"""
installed:
  description: Whether this task installed the shared cache (false when an earlier task had already).
  returned: always
  type: bool
  sample: true
cached_entries:
  description: How many parsed results (models, endpoints, service lists) the shared cache held.
  returned: always
  type: int
  sample: 42
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import botocore  # noqa: F401

    HAS_BOTOCORE = True
except ImportError:
    HAS_BOTOCORE = False

from ansible_collections.giftcrypto.platform.plugins.module_utils.botocore_models import cached_entries, share


def main() -> None:
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    if not HAS_BOTOCORE:
        module.fail_json(msg=missing_required_lib("botocore"))
    installed = share()
    module.exit_json(changed=False, installed=installed, cached_entries=cached_entries())


if __name__ == "__main__":
    main()
