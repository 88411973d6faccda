# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: aws_calls
type: aggregate
short_description: Marks each playbook and task in the file the AWS API calls are recorded to
version_added: 0.2.0
description:
  - Writes one JSON line when a playbook starts (its file name), one when a task starts (its role
    and name) and one when the playbook ends to the file named by E(GIFTCRYPTO_AWS_CALLS), the
    file the botocore client plugin C(tools/aws_calls/giftcrypto_aws_calls.py) appends every AWS
    API call to. Read in order, each call belongs to the task last marked before it (tasks run
    one at a time on the controller); a call after a playbook's end belongs to no task and is not
    counted.
  - C(tools/aws_calls.py) turns such a file into the record of the API calls a deploy, a plan and a
    rollback make, which the deploy role's policy is checked against (least privilege, issue 19).
  - Does nothing when the variable is unset. noxfile.py enables it with the botocore plugin
    (C(GIFTCRYPTO_AWS_CALLS=<file> nox -s deploy-local), and always in C(nox -s integration)).
requirements:
  - enable with C(ANSIBLE_CALLBACKS_ENABLED=giftcrypto.platform.aws_calls)
options:
  path:
    description: The file the calls and the markers are appended to (JSON lines).
    type: path
    env:
      - name: GIFTCRYPTO_AWS_CALLS
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "giftcrypto.platform.aws_calls"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = ""

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._path = self.get_option("path") or ""

    def _append(self, record):
        if not self._path:
            return
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def v2_playbook_on_start(self, playbook):
        self._append({"playbook": os.path.basename(playbook._file_name)})

    def v2_playbook_on_stats(self, stats):
        # The playbook's end: calls after it (a test's own boto3 calls between playbooks) are no task's.
        self._append({"end": True})

    def v2_playbook_on_play_start(self, play):
        self._append({"play": play.get_name()})

    def v2_playbook_on_task_start(self, task, is_conditional):
        # "<role FQCN> : <name>" for a task of a role, the name alone for a play's own task.
        self._append({"task": task.get_name()})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)
