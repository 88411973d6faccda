"""The resource policy of a secret the platform generates: who may read its value (ADR 0017).

One policy shape for every role that stores a generated secret (aws_security_baseline, aws_rds,
aws_elasticache, postgres_server, redis_server, db_schema, monitoring, app_deploy), so the readers
are decided in one place (aws_security_baseline's `aws_security_baseline_secret_readers` output) and
the statement is written once.

The policy denies ``secretsmanager:GetSecretValue`` to every principal whose ``aws:PrincipalArn`` is
not one of the readers. ``BatchGetSecretValue`` needs ``GetSecretValue`` on each secret as well, so it
is covered. Only reading is denied: whoever manages the secret (describe, update, put this policy)
keeps doing so, which is how a deploy never locks itself out. A resource policy's Allow would only
add to identity policies; a Deny with an exception is what limits who reads.

``aws:PrincipalArn`` of an assumed role's session is the role's ARN *with its path*
(``role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_...``), while the session's own ARN
(``sts::...:assumed-role/<name>/<session>``, what GetCallerIdentity answers) has no path. A role is
therefore named twice, ``role/<name>`` and ``role/*/<name>``; role names are unique in an account
whatever their path, so the second pattern matches that one role only.

The document is written the way Secrets Manager hands a policy back (GetResourcePolicy): AWS stores
the policy re-serialized, pretty-printed with ``"key" : value`` pairs, arrays inline (``[ "a", "b" ]``,
an object inside one as ``[ {`` ... ``} ]``) and single-element arrays as their element (seen by
crossplane-contrib/provider-aws issue 1804). ``community.aws.secretsmanager_secret`` compares the
policy it is given with that answer as text, so a policy written any other way would be put again on
every run (changed every time on AWS, though not on the local endpoint, which keeps the text given).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# An STS session of an assumed role, as GetCallerIdentity names it.
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+$"
)
# An IAM role, with or without a path.
_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):role/(?P<path>(?:[^/]+/)*)(?P<role>[^/]+)$"
)
_ARN = re.compile(r"^arn:[^:]+:(iam|sts)::\d{12}:\S+$")

ALL = "*"


def _patterns(reader: str) -> list[str]:
    """The aws:PrincipalArn patterns of one reader (an IAM or STS ARN)."""
    if not isinstance(reader, str) or not _ARN.match(reader):
        raise AnsibleFilterError(
            f"secret_read_policy: a reader must be the ARN of an IAM principal (role, user, root) or of an "
            f"assumed role's session, got {reader!r}"
        )
    match = _ASSUMED_ROLE.match(reader) or _ROLE.match(reader)
    if match is None:
        return [reader]
    role = f"arn:{match['partition']}:iam::{match['account']}:role/"
    if match.groupdict().get("path"):
        return [role + match["path"] + match["role"]]
    return [role + match["role"], role + "*/" + match["role"]]


def secret_readers(secret_name, readers) -> list[str]:
    """The aws:PrincipalArn patterns that may read the secret: the readers of every secret (key ``*``)
    and those of this one (its name as key), sorted, without repeats."""
    if not isinstance(secret_name, str) or not secret_name:
        raise AnsibleFilterError(
            f"secret_read_policy: the input must be the secret's name, got {secret_name!r}"
        )
    if not isinstance(readers, Mapping):
        raise AnsibleFilterError(
            "secret_read_policy: the argument must map a secret's name (or '*', every secret) to the ARNs "
            f"that may read it (aws_security_baseline_secret_readers), got {readers!r}"
        )
    named = []
    for key in (ALL, secret_name):
        value = readers.get(key) or []
        if isinstance(value, str) or not isinstance(value, list):
            raise AnsibleFilterError(
                f"secret_read_policy: readers[{key!r}] must be a list of ARNs, got {value!r}"
            )
        named.extend(value)
    return sorted({pattern for reader in named for pattern in _patterns(reader)})


def secret_read_policy(secret_name, readers):
    """The secret's resource policy (a JSON string), or None when no reader is known.

    None (no policy) only when ``readers`` names nobody for this secret, which is a role run outside
    the platform's playbook, without aws_security_baseline's output: a Deny of everyone would lock
    the deploy itself out of the value it stores.
    """
    patterns = secret_readers(secret_name, readers)
    if not patterns:
        return None
    return as_aws_returns_it(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheNamedPrincipalsReadTheValue",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": patterns}},
                }
            ],
        }
    )


def as_aws_returns_it(value, indent: int = 0) -> str:
    """JSON as Secrets Manager returns a resource policy: objects one pair a line (``"key" : value``,
    two spaces a level), arrays inline, a one-element array as its element; keys in the given order."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pairs = ",\n".join(
            f"{pad}{json.dumps(k)} : {as_aws_returns_it(v, indent + 1)}" for k, v in value.items()
        )
        return "{\n" + pairs + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        if len(value) == 1 and not isinstance(value[0], dict):
            return as_aws_returns_it(value[0], indent)
        return "[ " + ", ".join(as_aws_returns_it(v, indent) for v in value) + " ]"
    return json.dumps(value)


class FilterModule:
    """giftcrypto.platform secrets filters."""

    def filters(self):
        return {"secret_read_policy": secret_read_policy}
