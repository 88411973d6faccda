"""A botocore client plugin that appends every AWS API call to a file: one JSON line per call.

Enabled for a run by the environment alone (noxfile.py's ``_aws_calls_env``), nothing patched:

    PYTHONPATH=<this directory>:...
    BOTOCORE_EXPERIMENTAL__PLUGINS=giftcrypto_aws_calls=giftcrypto_aws_calls
    GIFTCRYPTO_AWS_CALLS=/path/to/calls.jsonl

botocore loads the modules that ``BOTOCORE_EXPERIMENTAL__PLUGINS`` names when it creates a client
and calls their ``initialize_client_plugin(client)``; this one registers a handler on the client's
own ``before-call`` event (botocore's public event system), which fires once per API call (before
its retries), before the request is signed and sent. The line is ``{"call": "<service>:<Operation>"}``
with botocore's service name (``ec2``, ``elbv2``, ``s3``...) and the operation's API name: what
tools/aws_calls.py maps to IAM actions. The Ansible callback ``giftcrypto.platform.aws_calls``
writes the playbook and task markers into the same file, so each call is attributed to its task.
Lines are appended with O_APPEND in one write each, so concurrent module processes never mix them.
"""

from __future__ import annotations

import json
import os

ENVIRONMENT_VARIABLE = "GIFTCRYPTO_AWS_CALLS"


def _append(path: str, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def initialize_client_plugin(client) -> None:
    """Called by botocore for every new client: records the client's calls when the variable is set."""
    path = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if not path:
        return
    service = client.meta.service_model.service_name

    def record(model, **_kwargs) -> None:
        _append(path, {"call": f"{service}:{model.name}"})

    # First among the handlers of every operation: one that answers the call itself (botocore's
    # Stubber, for instance) stops the event, and the call must be recorded all the same.
    client.meta.events.register_first("before-call.*.*", record, unique_id="giftcrypto-aws-calls")
