# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one flow of the collection's own AWS modules, and the result contract they all return.

A module of ours exists only for a real AWS gap (each says which in its DOCUMENTATION). It describes
its resource with a subclass of :class:`AWSResource` that supplies the service-specific hooks; this
base owns everything they used to repeat: the shared options, input validation before any call,
the describe with its declared not-found codes, the plan, the exit in check mode, create / update /
delete, tags, waiting, the re-read, error handling (every AWS error through ``fail_json_aws`` with
what the module was doing), and the result.

The flow of a run::

    validate()  -> problems, named by option: fail before any API call
    describe()  -> the raw answer, or None (absent: None, or an error code in ``not_found``)
    view()      -> the comparable view of the resource (what the result and the diff show)
    state=absent:  delete() when it exists (a not-found code from it: gone meanwhile), wait("absent")
    state=present: plan() the view to reach, differences() with the current view, tags planned
                   with compare_aws_tags; check mode exits here with the plan; otherwise
                   create() or update() and tag(), wait("present"), describe() again

The result contract (``plan_summary`` reads it as it is)::

    <resource>  the resource's view after the run (in check mode: as planned; {} when absent)
    planned     what the run did or, in check mode, would do: create, update, delete or none
    changes     the names of the settings that differ (every planned setting for a creation,
                ``tags`` for the tags); empty when nothing changes
    unverified  what the run could not verify (a check run before a resource it depends on exists)
    diff        {"before": view, "after": view}, when the run asks for a diff (--diff)
    changed     planned != "none"

plus each module's own outputs (identifiers that callers register, e.g. ``detector_id``).

A read-only module (``<prefix>_info``) keeps no resource: :class:`AWSInfo` gives it the same input
validation, retrying clients and error handling, and it returns its answers with ``changed=False``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, ClassVar

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore itself
    import botocore.exceptions

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

SHARED_OPTIONS: dict[str, dict[str, Any]] = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "tags": {"type": "dict", "aliases": ["resource_tags"]},
    "purge_tags": {"type": "bool", "default": True},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 900},
}
PLANNED = ("create", "update", "delete", "none")
RETRIES = 10


def retrying_client(module: AnsibleAWSModule, service: str):
    """The service's client, retrying throttling and transient errors with jittered backoff (calls opt
    in with ``aws_retry=True``)."""
    return module.client(service, retry_decorator=AWSRetry.jittered_backoff(retries=RETRIES))


def paginate(client, operation: str, **kwargs) -> dict[str, Any]:
    """Every page of operation, merged (build_full_result), retried as the client's calls are."""

    @AWSRetry.jittered_backoff(retries=RETRIES)
    def pages():
        return client.get_paginator(operation).paginate(**kwargs).build_full_result()

    return pages()


def is_error(error: Exception, *codes: str) -> bool:
    """Whether error is an AWS ClientError with one of codes."""
    response = getattr(error, "response", None) or {}
    return (response.get("Error") or {}).get("Code") in codes


def none_on(codes: tuple[str, ...], function, *args, **kwargs) -> Any:
    """function(*args, **kwargs), or None when it raises a ClientError with one of codes."""
    try:
        return function(*args, **kwargs)
    except botocore.exceptions.ClientError as error:
        if codes and is_error(error, *codes):
            return None
        raise


def refuse(module: AnsibleAWSModule, problems: dict[str, str], before: str) -> None:
    """Fails the module when validate() found problems: each named by its option, before any call."""
    if problems:
        listed = "; ".join(f"{option}: {problem}" for option, problem in problems.items())
        module.fail_json(msg=f"Refused before {before}: {listed}", problems=problems)


class ResourceProblem(Exception):
    """A failure the module explains itself (no AWS error behind it): the run fails with this message."""


class AWSResource:
    """One AWS resource (or setting) that a module keeps as its options describe it.

    Subclasses set the class attributes and override the hooks; ``run()`` does the rest.
    """

    #: boto3 service name of the client (``self.client``)
    service: ClassVar[str] = ""
    #: the result's key for the resource's view, e.g. ``detector``
    resource: ClassVar[str] = ""
    #: what messages call it, e.g. ``GuardDuty detector``
    noun: ClassVar[str] = ""
    #: the module's own options (an argument_spec)
    options: ClassVar[dict[str, Any]] = {}
    #: which of SHARED_OPTIONS the module offers
    shared: ClassVar[tuple[str, ...]] = ("state",)
    #: error codes of describe() that mean "it does not exist"
    not_found: ClassVar[tuple[str, ...]] = ()
    #: AnsibleAWSModule keyword arguments (mutually_exclusive, required_if...)
    module_kwargs: ClassVar[dict[str, Any]] = {}
    #: whether create() sets the tags itself (otherwise the base calls tag() after creating)
    tags_on_create: ClassVar[bool] = True
    #: the option that names the resource in messages (``name()`` by default)
    named_by: ClassVar[str] = ""

    def __init__(self, module: AnsibleAWSModule | None = None) -> None:
        spec = {name: dict(SHARED_OPTIONS[name]) for name in self.shared}
        spec.update(self.options)
        self.module = module or AnsibleAWSModule(
            argument_spec=spec, supports_check_mode=True, **self.module_kwargs
        )
        self.params = self.module.params
        self.unverified: list[str] = []
        #: the view read at the start of the run ({} when absent): what a deletion's outputs() may name
        self.before: dict[str, Any] = {}
        self._client = None

    @property
    def client(self):
        """The service's client, retrying throttling and transient errors with jittered backoff."""
        if self._client is None:
            self._client = retrying_client(self.module, self.service)
        return self._client

    # --- hooks -----------------------------------------------------------------------------------

    def validate(self) -> dict[str, str]:
        """Problems with the options, by option name (checked before any API call)."""
        return {}

    def describe(self) -> Any:
        """The resource as the API describes it, or None when it does not exist."""
        raise NotImplementedError

    def view(self, described: Any) -> dict[str, Any]:
        """The comparable view of a describe() answer (with ``tags`` when the module manages tags)."""
        raise NotImplementedError

    def plan(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """The view the options ask for, from the current view (None: the resource does not exist)."""
        raise NotImplementedError

    def differences(self, current: dict[str, Any], planned: dict[str, Any]) -> list[str]:
        """The settings (not tags) that differ; by default every key whose value differs."""
        return sorted(key for key, value in planned.items() if key != "tags" and current.get(key) != value)

    def create(self, planned: dict[str, Any]) -> None:
        """Creates the resource as planned (with its tags when ``tags_on_create``)."""
        raise ResourceProblem(f"the {self.noun} does not exist and this module does not create one")

    def update(self, current: dict[str, Any], planned: dict[str, Any], changes: list[str]) -> None:
        """Brings the existing resource from current to planned for the settings named in changes."""
        raise ResourceProblem(f"this module cannot change {', '.join(changes)} of an existing {self.noun}")

    def delete(self, current: dict[str, Any]) -> None:
        raise ResourceProblem(f"this module does not delete a {self.noun}")

    def tag(self, current: dict[str, Any], to_set: dict[str, str], to_unset: list[str]) -> None:
        """Sets to_set and removes to_unset on the resource (see the TagAdapter helpers)."""
        raise ResourceProblem(f"this module does not tag a {self.noun}")

    def wait(self, goal: str) -> None:
        """Waits until the resource is usable (goal ``present``) or gone (``absent``); by default nothing."""

    def outputs(self, view: dict[str, Any]) -> dict[str, Any]:
        """Module-specific results beside the contract (identifiers callers register)."""
        return {}

    def name(self, view: dict[str, Any] | None) -> str:
        """How messages name this resource (``the <noun> <name>``); view is None before the first read
        (a resource found by its options can still be named from them); by default, the option named_by."""
        return str(self.params.get(self.named_by) or "") if self.named_by else ""

    # --- helpers for the hooks ---------------------------------------------------------------------

    def poll(self, done, what: str, delay: float = 5.0) -> dict[str, Any]:
        """describe() until done(view) is true (view {} when absent), at most wait_timeout seconds."""
        deadline = time.monotonic() + int(
            self.params.get("wait_timeout") or SHARED_OPTIONS["wait_timeout"]["default"]
        )
        while True:
            described = self._describe()
            view = self.view(described) if described is not None else {}
            if done(view):
                return view
            if time.monotonic() > deadline:
                raise ResourceProblem(
                    f"timed out waiting for the {self.noun}{self._called(view)} to be {what}"
                )
            time.sleep(delay)

    def paginate(self, operation: str, **kwargs) -> dict[str, Any]:
        """Every page of operation on the resource's client, merged and retried (see paginate())."""
        return paginate(self.client, operation, **kwargs)

    def or_none(self, codes: tuple[str, ...], method, **kwargs) -> Any:
        """method(aws_retry=True, **kwargs), or None when AWS answers one of codes: for a part of the
        resource that may be missing while the rest exists (a delivery channel, a member cluster)."""
        return none_on(codes, method, aws_retry=True, **kwargs)

    def is_error(self, error: Exception, *codes: str) -> bool:
        """Whether error is an AWS ClientError with one of codes."""
        return is_error(error, *codes)

    # --- the flow ----------------------------------------------------------------------------------

    def _called(self, view: dict[str, Any] | None) -> str:
        label = self.name(view)
        return f" {label}" if label else ""

    def _describe(self) -> Any:
        return none_on(self.not_found, self.describe)

    def _delete(self, current: dict[str, Any]) -> None:
        """delete(), where one of the not-found codes means it went meanwhile: the wanted state."""
        none_on(self.not_found, self.delete, current)

    def _step(self, doing: str, view: dict[str, Any] | None, function, *args):
        """Runs one step of the flow; an AWS error fails the module, saying what it was doing."""
        try:
            return function(*args)
        except ResourceProblem as problem:
            self.module.fail_json(msg=f"{doing} the {self.noun}{self._called(view)}: {problem}")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            self.module.fail_json_aws(
                error, msg=f"Could not {doing.lower()} the {self.noun}{self._called(view)}"
            )

    def _read(self, doing: str, view: dict[str, Any] | None) -> dict[str, Any]:
        described = self._step(doing, view, self._describe)
        return self.view(described) if described is not None else {}

    def _exit(self, planned: str, before: dict, after: dict, changes: list[str]) -> None:
        result = {
            "changed": planned != "none",
            self.resource: after,
            "planned": planned,
            "changes": changes,
            "unverified": self.unverified,
            **self.outputs(after),
        }
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        self.module.exit_json(**result)

    def run(self) -> None:
        refuse(self.module, self.validate(), "any change")
        before = self.before = self._read("Read", None)
        if self.params.get("state", "present") == "absent":
            self._absent(before)
        self._present(before)

    def _absent(self, before: dict[str, Any]) -> None:
        if not before:
            self._exit("none", {}, {}, [])
        if not self.module.check_mode:
            self._step("Delete", before, self._delete, before)
            if self.params.get("wait", True):
                self._step("Wait for the deletion of", before, self.wait, "absent")
        self._exit("delete", before, {}, sorted(before))

    def _present(self, before: dict[str, Any]) -> None:
        planned = self._step("Plan", before or None, self.plan, before or None)
        to_set: dict[str, str] = {}
        to_unset: list[str] = []
        if "tags" in self.shared:
            planned["tags"], to_set, to_unset = plan_tags(
                before.get("tags"), self.params["tags"], self.params["purge_tags"]
            )
        wait = self.params.get("wait", True)
        if not before:
            changes = sorted(planned)
            if self.module.check_mode:
                self._exit("create", {}, planned, changes)
            self._step("Create", planned, self.create, planned)
            after = self._read("Read the new", planned)
            if "tags" in self.shared and not self.tags_on_create and settable(planned["tags"]):
                self._step("Tag", after, self.tag, after, settable(planned["tags"]), [])
            if wait:
                self._step("Wait for", after, self.wait, "present")
            self._exit("create", {}, self._read("Read the new", after), changes)
        changes = self._step("Compare", before, self.differences, before, planned)
        settings = list(changes)
        if to_set or to_unset:
            changes = [*changes, "tags"]
        if not changes:
            self._exit("none", before, before, [])
        if self.module.check_mode:
            self._exit("update", before, planned, changes)
        if settings:
            self._step("Update", before, self.update, before, planned, settings)
        if to_set or to_unset:
            self._step("Tag", before, self.tag, before, to_set, to_unset)
        if wait and settings:
            self._step("Wait for", before, self.wait, "present")
        self._exit("update", before, self._read("Read the updated", before), changes)


class AWSInfo:
    """A read-only module (``_info``): it asks AWS and answers, keeping no resource, so it has no plan,
    no diff and never a change; check mode asks the same.

    Subclasses set ``options`` and override answer(), asking each question through ask(); run()
    refuses bad options (validate(), by option) before any call, then exits with the answers.
    """

    #: the module's options (an argument_spec)
    options: ClassVar[dict[str, Any]] = {}
    #: AnsibleAWSModule keyword arguments (mutually_exclusive, required_if...)
    module_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, module: AnsibleAWSModule | None = None) -> None:
        self.module = module or AnsibleAWSModule(
            argument_spec=dict(self.options), supports_check_mode=True, **self.module_kwargs
        )
        self.params = self.module.params
        self._clients: dict[str, Any] = {}

    def client(self, service: str):
        """The client of service (one per service and run), retrying as AWSResource.client does."""
        if service not in self._clients:
            self._clients[service] = retrying_client(self.module, service)
        return self._clients[service]

    def validate(self) -> dict[str, str]:
        """Problems with the options, by option name (checked before any API call)."""
        return {}

    def answer(self) -> dict[str, Any]:
        """The module's results (beside ``changed``)."""
        raise NotImplementedError

    def ask(self, question: str, function, *args, **kwargs) -> Any:
        """function(*args, **kwargs); an AWS error fails the module with ``Could not ask AWS <question>``."""
        try:
            return function(*args, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            self.module.fail_json_aws(error, msg=f"Could not ask AWS {question}")

    def run(self) -> None:
        refuse(self.module, self.validate(), "asking AWS")
        self.module.exit_json(changed=False, **self.answer())


def run(resource_class: type[AWSResource] | type[AWSInfo]) -> None:
    """The main() of a module: its resource (or its questions, for an ``_info`` module), run."""
    resource_class().run()


# --- tag adapters: the tagging APIs our modules meet ---------------------------------------------


def tag_by_arn_dict(
    client,
    arn: str,
    to_set: dict,
    to_unset: list,
    arn_key: str = "ResourceArn",
    tags_key: str = "Tags",
    keys_key: str = "TagKeys",
) -> None:
    """tag_resource(<arn_key>=arn, <tags_key>={...}) / untag_resource(<arn_key>=arn, <keys_key>=[...])
    (GuardDuty, Security Hub, ...; EKS spells them in camel case: tag_eks)."""
    if to_unset:
        client.untag_resource(aws_retry=True, **{arn_key: arn, keys_key: to_unset})
    if to_set:
        client.tag_resource(aws_retry=True, **{arn_key: arn, tags_key: to_set})


#: EKS's tag_resource(resourceArn, tags={...}) / untag_resource(resourceArn, tagKeys=[...]): clusters,
#: access entries, node groups, add-ons.
tag_eks = functools.partial(tag_by_arn_dict, arn_key="resourceArn", tags_key="tags", keys_key="tagKeys")


def tag_by_arn_list(client, arn: str, to_set: dict, to_unset: list, arn_key: str = "ResourceARN") -> None:
    """tag_resource(<arn_key>=arn, Tags=[{Key, Value}]) / untag_resource(<arn_key>=arn, TagKeys=[...])
    (CloudWatch, ...)."""
    if to_unset:
        client.untag_resource(aws_retry=True, **{arn_key: arn, "TagKeys": to_unset})
    if to_set:
        client.tag_resource(aws_retry=True, **{arn_key: arn, "Tags": ansible_dict_to_boto3_tag_list(to_set)})


def tag_by_resource_name(client, arn: str, to_set: dict, to_unset: list) -> None:
    """add_tags_to_resource / remove_tags_from_resource by ResourceName (RDS, ElastiCache)."""
    if to_unset:
        client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=to_unset)
    if to_set:
        client.add_tags_to_resource(
            aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(to_set)
        )


def tags_from_list(tag_list: list | None) -> dict:
    """A [{Key, Value}] tag list as a dict."""
    return boto3_tag_list_to_ansible_dict(tag_list or [])
