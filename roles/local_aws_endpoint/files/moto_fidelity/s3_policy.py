"""S3: a bucket policy is evaluated against the request's context, as AWS evaluates it.

moto 5.2 evaluates a bucket policy for object requests (``S3Response._key_response``, the keys of a
``DeleteObjects``) through ``FakeBucket.get_permission(action, resource)``, which hands moto's
``IAMPolicyStatement`` no principal and no context key. That statement evaluator then:

- ignores every condition operator but ``StringEquals`` (``iam/policy_conditions.py``: "If the
  evaluation operation is not supported, ignore condition evaluation"), so a ``Deny`` statement
  conditioned with ``Bool``, ``Null`` or ``StringNotEquals`` applies to every request;
- answers ``DENIED`` for a statement whose condition does not hold, whatever its effect (a
  condition that does not hold makes a statement not apply; it never denies);
- checks no ``Principal`` but ``"*"``, and names every object action ``s3:<Method>Object``
  (``s3:HeadObject``, ``s3:PutObject`` for ``PutObjectRetention``, ...);
- answers a denial with an empty 403 body instead of the ``AccessDenied`` error.

So a bucket that denies requests without TLS, writes by any principal but one, or writes without
``If-None-Match`` (the S3 documentation's own examples) refused every write. Here the same
requests are evaluated with the context AWS gives them: ``aws:SecureTransport`` (the request came
over TLS: the endpoint serves TLS and plain HTTP on its one port), the principal of the request's
access key (an assumed role's session, an IAM user, or moto's default identity for keys it never
issued) with ``aws:PrincipalArn`` and the other principal keys, ``aws:SourceIp``,
``aws:CurrentTime``, the S3 keys of the request's headers (``s3:if-none-match``, ...), the
statement's ``Principal``, ``NotPrincipal``, ``NotAction``, ``NotResource`` and the condition
operators of the IAM reference, with ``...IfExists``, ``Null``, the missing-key rule and the
``ForAnyValue``/``ForAllValues`` qualifiers. An operator outside that reference denies the request
(fail closed; AWS refuses such a policy when it is put).

Scope: the requests moto evaluates a bucket policy for (object requests); moto evaluates none for
bucket-level requests, and this fix adds none.
"""

from __future__ import annotations

import contextvars
import datetime
import ipaddress
import json
import logging
import re
from typing import Any, ClassVar

from . import Fix, extend_backend, route_responses

BUCKET_POLICY_EVALUATION = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-auth-workflow-object-operation.html"
)
CONDITION_OPERATORS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
)
GLOBAL_CONDITION_KEYS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
)
CONDITIONAL_WRITES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html"
S3_ACTIONS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html"

log = logging.getLogger(__name__)

# The context of the S3 request being served (set around moto's object handlers, read by the
# bucket's get_permission); None outside a request.
_REQUEST: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar(
    "giftcrypto_s3_request_context", default=None
)

ALLOWED, DENIED, NEUTRAL = "allowed", "denied", "neutral"

# S3's request headers that are condition keys of their own (s3:<header>), as the S3 service
# authorization reference lists them.
_HEADER_KEYS = (
    "if-match",
    "if-none-match",
    "x-amz-acl",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-content-sha256",
)
_HEADER_CONDITION_KEYS = {
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}


# --- the request's context ----------------------------------------------------------------------


def principal_of(access_key: str, account: str, partition: str, session_token: bool) -> dict[str, str]:
    """The principal AWS would name for the request's access key, from moto's STS and IAM state."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    if not access_key:
        return {"type": "Anonymous"}
    if session_token:
        for role in sts_backends[account][partition].assumed_roles:
            if role.access_key_id == access_key:
                role_id = ""
                try:
                    role_id = iam_backends[role.account_id][partition].get_role_by_arn(arn=role.role_arn).id
                except Exception:  # a role deleted since: no role id
                    role_id = role.role_arn.split("/")[-1]
                return {
                    "type": "AssumedRole",
                    "arn": role.role_arn,
                    "session_arn": role.arn,
                    "account": role.account_id,
                    "userid": f"{role_id}:{role.session_name}",
                }
    user = iam_backends[account][partition].get_user_from_access_key_id(access_key)
    if user is not None:
        return {
            "type": "User",
            "arn": user.arn,
            "session_arn": user.arn,
            "account": user.account_id,
            "userid": user.id,
            "username": user.name,
        }
    # A key moto never issued (the endpoint accepts any): moto's own identity for it, the one
    # GetCallerIdentity answers, as an IAM user.
    arn = f"arn:{partition}:iam::{account}:user/moto"
    return {
        "type": "User",
        "arn": arn,
        "session_arn": arn,
        "account": account,
        "userid": "AKIAIOSFODNN7EXAMPLE",  # pragma: allowlist secret (moto's documented example key id)
        "username": "moto",
    }


def request_context(
    *,
    secure: bool,
    principal: dict[str, str],
    source_ip: str,
    headers: dict[str, str],
    query: dict[str, list[str]],
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The request context (condition keys, lowercased, each a list of values) and the principal."""
    now = now or datetime.datetime.now(datetime.UTC)
    keys: dict[str, list[str]] = {
        "aws:securetransport": ["true" if secure else "false"],
        "aws:currenttime": [now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:epochtime": [str(int(now.timestamp()))],
        "aws:principalisawsservice": ["false"],
        "aws:viaawsservice": ["false"],
    }
    if source_ip:
        keys["aws:sourceip"] = [source_ip]
    if principal.get("arn"):
        keys["aws:principalarn"] = [principal["arn"]]
        keys["aws:principalaccount"] = [principal["account"]]
        keys["aws:principaltype"] = [principal["type"]]
        keys["aws:userid"] = [principal["userid"]]
        if principal.get("username"):
            keys["aws:username"] = [principal["username"]]
    lowered = {name.lower(): value for name, value in headers.items()}
    for header in _HEADER_KEYS:
        if header in lowered:
            keys[_HEADER_CONDITION_KEYS.get(header, f"s3:{header}")] = [lowered[header]]
    if "versionId" in query:
        keys["s3:versionid"] = [query["versionId"][0]]
    authorization = lowered.get("authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256"):
        keys["s3:signatureversion"] = ["AWS4-HMAC-SHA256"]
        keys["s3:authtype"] = ["REST-HEADER"]
    elif "X-Amz-Signature" in query:
        keys["s3:signatureversion"] = ["AWS4-HMAC-SHA256"]
        keys["s3:authtype"] = ["REST-QUERY-STRING"]
    return {"keys": keys, "principal": principal}


def object_actions(method: str, query: dict[str, list[str]], headers: dict[str, str]) -> list[str]:
    """The S3 policy actions an object request needs (the S3 actions reference), not moto's
    ``s3:<Method>Object``."""
    method = method.upper()
    lowered = {name.lower(): value for name, value in headers.items()}
    versioned = "versionId" in query
    subresources = ("retention", "legal-hold", "tagging", "acl", "restore")
    sub = next((name for name in subresources if name in query), "")
    if method in ("GET", "HEAD"):
        named = {
            "retention": "s3:GetObjectRetention",
            "legal-hold": "s3:GetObjectLegalHold",
            "tagging": "s3:GetObjectVersionTagging" if versioned else "s3:GetObjectTagging",
            "acl": "s3:GetObjectVersionAcl" if versioned else "s3:GetObjectAcl",
        }
        if sub in named:
            return [named[sub]]
        if "uploadId" in query:
            return ["s3:ListMultipartUploadParts"]
        return ["s3:GetObjectVersion" if versioned else "s3:GetObject"]
    if method == "PUT":
        named = {
            "retention": "s3:PutObjectRetention",
            "legal-hold": "s3:PutObjectLegalHold",
            "tagging": "s3:PutObjectVersionTagging" if versioned else "s3:PutObjectTagging",
            "acl": "s3:PutObjectVersionAcl" if versioned else "s3:PutObjectAcl",
        }
        actions = [named.get(sub, "s3:PutObject")]
        if sub == "" and "x-amz-copy-source" in lowered:
            pass  # CopyObject: s3:PutObject here (s3:GetObject is asked of the source bucket)
        if sub == "" and "x-amz-object-lock-mode" in lowered:
            actions.append("s3:PutObjectRetention")
        if sub == "" and "x-amz-object-lock-legal-hold" in lowered:
            actions.append("s3:PutObjectLegalHold")
    elif method == "DELETE":
        if "uploadId" in query:
            actions = ["s3:AbortMultipartUpload"]
        elif sub == "tagging":
            actions = ["s3:DeleteObjectVersionTagging" if versioned else "s3:DeleteObjectTagging"]
        else:
            actions = ["s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"]
    elif method == "POST":
        actions = ["s3:RestoreObject" if sub == "restore" else "s3:PutObject"]
    else:
        actions = [f"s3:{method.capitalize()}Object"]
    if lowered.get("x-amz-bypass-governance-retention", "").lower() == "true":
        actions.append("s3:BypassGovernanceRetention")
    return actions


# --- the policy's evaluation --------------------------------------------------------------------


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * any run of characters, ? one character (no other pattern syntax)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL
    return re.fullmatch(regex, value, flags=flags) is not None


def _principal_matches(element: Any, principal: dict[str, str]) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    for kind, values in element.items():
        for value in _as_list(values):
            if kind == "AWS":
                if value == "*":
                    return True
                if not principal.get("arn"):
                    continue
                account = principal["account"]
                if value in (account, f"arn:aws:iam::{account}:root") or re.fullmatch(
                    rf"arn:[a-z-]+:iam::{account}:root", value
                ):
                    return True
                if value in (principal["arn"], principal["session_arn"]):
                    return True
    # Service and Federated principals make no request to the endpoint.
    return False


def _compare(operator: str, expected: str, actual: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return actual == expected
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == expected.lower()
    if operator in ("StringLike", "StringNotLike"):
        return _glob(expected, actual)
    if operator in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"):
        # ARNs compare by their six colon-separated parts, each with wildcards.
        exp, act = expected.split(":", 5), actual.split(":", 5)
        return len(exp) == len(act) == 6 and all(_glob(e, a) for e, a in zip(exp, act, strict=True))
    if operator == "Bool":
        return actual.lower() == str(expected).lower()
    if operator in ("IpAddress", "NotIpAddress"):
        try:
            return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    if operator.startswith("Numeric"):
        a, e = float(actual), float(expected)
        return {
            "NumericEquals": a == e,
            "NumericNotEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[operator]
    if operator.startswith("Date"):
        a = datetime.datetime.fromisoformat(actual.replace("Z", "+00:00"))
        e = datetime.datetime.fromisoformat(str(expected).replace("Z", "+00:00"))
        return {
            "DateEquals": a == e,
            "DateNotEquals": a == e,
            "DateLessThan": a < e,
            "DateLessThanEquals": a <= e,
            "DateGreaterThan": a > e,
            "DateGreaterThanEquals": a >= e,
        }[operator]
    raise KeyError(operator)


_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NotIpAddress",
    "NumericNotEquals",
    "DateNotEquals",
}
_OPERATORS = _NEGATED | {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "IpAddress",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
}


class UnknownOperator(ValueError):
    """A condition operator outside the IAM reference."""


def condition_holds(operator: str, key: str, expected: Any, keys: dict[str, list[str]]) -> bool:
    """One operator and key of a Condition block, by the IAM reference's rules."""
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAnyValue", "ForAllValues"):
        qualifier, operator = operator.split(":", 1)
    actual = keys.get(key.lower())
    expected_values = [str(v) for v in _as_list(expected)]
    if operator == "Null":
        # Null: "true" holds when the key is absent, "false" when it is present.
        return (actual is None) == (expected_values[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if base not in _OPERATORS:
        raise UnknownOperator(operator)
    if actual is None:
        # The missing-key rule: a missing key does not match, so the condition is false, true for
        # a negated operator; ...IfExists holds on a missing key; ForAllValues holds on no values.
        return if_exists or qualifier == "ForAllValues" or (base in _NEGATED and not qualifier)
    negated = base in _NEGATED

    def matches(value: str) -> bool:
        hit = any(_compare(base, e, value) for e in expected_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(value) for value in actual)
    return any(matches(value) for value in actual) if not negated else all(matches(v) for v in actual)


def statement_applies(statement: dict, action: str, resource: str, context: dict[str, Any]) -> bool:
    principal = context["principal"]
    if "Principal" in statement and not _principal_matches(statement["Principal"], principal):
        return False
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], principal):
        return False
    if "Action" in statement and not any(_glob(a, action, True) for a in _as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(_glob(a, action, True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(_glob(r, resource) for r in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(_glob(r, resource) for r in _as_list(statement["NotResource"])):
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            if not condition_holds(operator, key, expected, context["keys"]):
                return False
    return True


def evaluate(policy: dict, action: str, resource: str, context: dict[str, Any]) -> str:
    """DENIED if a Deny statement applies, ALLOWED if an Allow one does, else NEUTRAL."""
    result = NEUTRAL
    for statement in _as_list(policy.get("Statement", [])):
        try:
            applies = statement_applies(statement, action, resource, context)
        except (UnknownOperator, KeyError, ValueError) as error:
            log.warning("bucket policy statement %s not evaluable (%s): request denied", statement, error)
            return DENIED
        if applies and statement.get("Effect") == "Deny":
            return DENIED
        if applies and statement.get("Effect") == "Allow":
            result = ALLOWED
    return result


# --- moto ---------------------------------------------------------------------------------------


def _permission(evaluated: str):
    from moto.iam.access_control import PermissionResult

    return {ALLOWED: PermissionResult.PERMITTED, DENIED: PermissionResult.DENIED}.get(
        evaluated, PermissionResult.NEUTRAL
    )


class BucketPolicyInContext:
    """FakeBucket whose policy is evaluated with the request's context (moto's without, outside
    a request)."""

    def get_permission(self, action: str, resource: str) -> Any:
        context = _REQUEST.get()
        if context is None or self.policy is None:
            return super().get_permission(action, resource)
        policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        # moto asks for s3:<Method>Object: the request's own actions were decided in _key_response;
        # the keys of a DeleteObjects come here as s3:DeleteObject.
        actions = context.get("actions") or [action]
        results = [evaluate(policy, each, resource, context) for each in actions]
        if DENIED in results:
            return _permission(DENIED)
        return _permission(ALLOWED if ALLOWED in results else NEUTRAL)


class BucketsWithPolicyInContext:
    """S3 backend whose buckets evaluate their policy with the request's context."""

    _bucket_classes: ClassVar[dict[type, type]] = {}

    @property
    def _url_module(self) -> Any:
        # moto's S3 backend reloads moto.s3.urls on every access (its URLs depend on settings),
        # which puts moto's S3Response back: the handlers are pointed at ours after each reload.
        module = super()._url_module
        route_responses(module.__name__, _RESPONSE[0], _RESPONSE[1])
        return module

    def create_bucket(self, *args, **kwargs):
        bucket = super().create_bucket(*args, **kwargs)
        base = type(bucket)
        if not issubclass(base, BucketPolicyInContext):
            cls = self._bucket_classes.setdefault(
                base, type(f"Faithful{base.__name__}", (BucketPolicyInContext, base), {})
            )
            bucket.__class__ = cls
        return bucket


class PolicyContextResponses:
    """S3 responses that give object requests their context and answer a denial as AWS does."""

    def _policy_context(self, request: Any, actions: list[str] | None) -> dict[str, Any]:
        from moto.utilities.utils import get_partition

        environ = getattr(request, "environ", {}) or {}
        headers = dict(request.headers)
        query = dict(self.querystring.items()) if hasattr(self, "querystring") else {}
        token = "X-Amz-Security-Token" in query or any(
            name.lower() == "x-amz-security-token" for name in headers
        )
        access_key = ""
        if "Authorization" in headers or "X-Amz-Credential" in query:
            access_key = self.get_access_key()
        principal = principal_of(access_key, self.current_account, get_partition(self.region), token)
        context = request_context(
            secure=environ.get("wsgi.url_scheme") == "https",
            principal=principal,
            source_ip=environ.get("REMOTE_ADDR", ""),
            headers=headers,
            query=query,
        )
        context["actions"] = actions
        return context

    def _key_response(self, request: Any, full_url: str):
        from moto.s3.exceptions import S3AccessDeniedError
        from moto.s3.exceptions import S3ClientError as _S3ClientError

        query = dict(self.querystring.items())
        actions = object_actions(request.method, query, dict(request.headers))
        context = self._policy_context(request, actions)
        try:
            bucket_name = self.parse_bucket_name_from_url(request, full_url)
            key_name = self.parse_key_name()
            bucket = self.backend.get_bucket(bucket_name)
        except _S3ClientError:
            bucket = None
        if bucket is not None and bucket.policy is not None:
            resource = f"arn:{bucket.partition}:s3:::{bucket_name}/{key_name}"
            policy = json.loads(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
            if any(evaluate(policy, action, resource, context) == DENIED for action in actions):
                raise S3AccessDeniedError()
        token = _REQUEST.set(context)
        try:
            return super()._key_response(request, full_url)
        finally:
            _REQUEST.reset(token)

    def _bucket_response_delete_keys(self, bucket_name: str, *args: Any, **kwargs: Any):
        context = self._policy_context(self.request, None)
        token = _REQUEST.set(context)
        try:
            return super()._bucket_response_delete_keys(bucket_name, *args, **kwargs)
        finally:
            _REQUEST.reset(token)


# moto's S3Response and ours, set by _apply.
_RESPONSE: list[type] = []


def _apply() -> None:
    from moto.s3.responses import S3Response

    _RESPONSE[:] = [S3Response, type("FaithfulS3Response", (PolicyContextResponses, S3Response), {})]
    extend_backend("moto.s3.models", "s3_backends", BucketsWithPolicyInContext)
    route_responses("moto.s3.urls", *_RESPONSE)


FIXES = [
    Fix(
        service="s3",
        name="bucket-policy-request-context",
        summary=(
            "a bucket policy is evaluated against the request's context: aws:SecureTransport, the "
            "principal of the access key (aws:PrincipalArn, ...), s3:if-none-match and the other "
            "header keys, every condition operator of the IAM reference, Principal and the S3 "
            "action of the request; a denial is AccessDenied (moto ignored every operator but "
            "StringEquals, so a conditional Deny denied every object request)"
        ),
        reference=f"{BUCKET_POLICY_EVALUATION}; {CONDITION_OPERATORS}; {GLOBAL_CONDITION_KEYS}; "
        f"{CONDITIONAL_WRITES}; {S3_ACTIONS}",
        upstream=(
            "not in moto 5.2.6 (s3/models.py get_permission passes no principal nor context; "
            "iam/policy_conditions.py ignores every operator but StringEquals)"
        ),
        apply=_apply,
    ),
]
