# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every AWS module of the collection shares (plugins/module_utils/aws_resource.py).

``giftcrypto.platform.aws_resource`` is for the modules that keep a resource (AWSResource),
``giftcrypto.platform.aws_resource.info`` for the read-only ones (AWSInfo); both end with the same
two notes on retries and the action group (tests/unit/test_doc_fragments.py holds them equal). Each
fragment is one string literal: ansible-test's sanity tests read the fragments without running them.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - Supports check mode, which reads but never writes and returns what a run would do; and diff
    (the resource's view before and after).
  - Returns the result contract of the collection's AWS modules. RV(planned) is what the run did or,
    in check mode, would do (C(create), C(update), C(delete) or C(none)); RV(changes) names the
    settings that differ (C(tags) for the tags); RV(unverified) lists what the run could not
    verify; the resource's view is under its own key; C(diff) holds the view before and after.
    C(giftcrypto.platform.plan_summary) reads it as it is.
  - AWS calls are retried with jittered exponential backoff on throttling and transient errors.
  - Lives in the collection's C(aws) action group, so C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
"""

    INFO = r"""
options: {}
notes:
  - Read-only, it only asks AWS (C(changed) is always false) and asks the same in check mode. It keeps
    no resource, so it returns its answers instead of the result contract of the collection's other
    AWS modules.
  - A bad option is refused, named, before any call; an AWS error fails the run, naming the question
    that was being asked.
  - AWS calls are retried with jittered exponential backoff on throttling and transient errors.
  - Lives in the collection's C(aws) action group, so C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
"""

    STATE = r"""
options:
  state:
    description: Whether the resource exists (V(absent) deletes it).
    type: str
    choices: [present, absent]
    default: present
"""

    WAIT = r"""
options:
  wait:
    description: Whether to wait until the resource is usable after a change (or gone after a deletion).
    type: bool
    default: true
  wait_timeout:
    description: How long to wait, in seconds.
    type: int
    default: 900
"""
