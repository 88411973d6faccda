"""AWS Backup: a missing vault as AWS answers it; plans updated; selections of a plan."""

from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError

from . import Fix, extend_backend, route_responses

DESCRIBE_BACKUP_VAULT = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeBackupVault.html"
# AWS's answer for a vault that does not exist, reported against the API (403, not the
# ResourceNotFoundException the reference lists): https://github.com/aws/aws-sdk-js/issues/2625
AWS_ANSWER = "https://github.com/aws/aws-sdk-js/issues/2625"


UPDATE_PLAN = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_UpdateBackupPlan.html"
CREATE_PLAN = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupPlan.html"
DELETE_PLAN = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DeleteBackupPlan.html"
CREATE_SELECTION = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupSelection.html"
GET_SELECTION = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_GetBackupSelection.html"
LIST_SELECTIONS = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupSelections.html"
DELETE_SELECTION = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DeleteBackupSelection.html"

# GetBackupSelection's Conditions when the selection was made without any.
EMPTY_CONDITIONS = {"StringEquals": [], "StringLike": [], "StringNotEquals": [], "StringNotLike": []}


class AccessDeniedException(JsonRESTError):
    code = 403

    def __init__(self) -> None:
        super().__init__("AccessDeniedException", "Insufficient privileges to perform this action.")


class MissingVaultAsAWS:
    """Backup backend whose DescribeBackupVault of a missing vault answers 403 AccessDeniedException."""

    def describe_backup_vault(self, backup_vault_name):
        if backup_vault_name not in self.vaults:
            raise AccessDeniedException()
        return super().describe_backup_vault(backup_vault_name)


def _apply() -> None:
    extend_backend("moto.backup.models", "backup_backends", MissingVaultAsAWS)


class PlansAndSelectionsAsAWS:
    """Backup backend with UpdateBackupPlan and the selections of a plan.

    - UpdateBackupPlan replaces a plan's document and gives it a new VersionId (moto: 500).
    - A deleted plan's name can be used again (moto refused it: AlreadyExistsException).
    - CreateBackupSelection / GetBackupSelection / ListBackupSelections / DeleteBackupSelection
      keep a plan's selections (moto: 500), and a plan that has selections cannot be deleted.
    """

    def _live_plan(self, backup_plan_id):
        from moto.backup.exceptions import ResourceNotFoundException

        plan = self.plans.get(backup_plan_id)
        if plan is None or plan.deletion_date is not None:
            raise ResourceNotFoundException(msg="Failed reading Backup plan with provided version")
        return plan

    def create_backup_plan(self, backup_plan, backup_plan_tags, creator_request_id):
        from moto.backup.exceptions import AlreadyExistsException

        live = [p.backup_plan["BackupPlanName"] for p in self.plans.values() if p.deletion_date is None]
        if backup_plan["BackupPlanName"] in live:
            raise AlreadyExistsException(msg="Backup plan with the same plan document already exists")
        deleted = {i: p for i, p in self.plans.items() if p.deletion_date is not None}
        for plan_id in deleted:
            del self.plans[plan_id]
        try:
            return super().create_backup_plan(backup_plan, backup_plan_tags, creator_request_id)
        finally:
            self.plans.update(deleted)

    def update_backup_plan(self, backup_plan_id, backup_plan):
        from moto.backup.models import Plan

        plan = self._live_plan(backup_plan_id)
        renewed = Plan(backup_plan=backup_plan, creator_request_id=plan.creator_request_id, backend=self)
        plan.backup_plan = renewed.backup_plan
        plan.advanced_backup_settings = renewed.advanced_backup_settings
        plan.version_id = renewed.version_id
        return plan

    def delete_backup_plan(self, backup_plan_id):
        from moto.backup.exceptions import InvalidRequestException

        if self._selections().get(backup_plan_id):
            raise InvalidRequestException(
                msg="Related backup plan selections must be deleted prior to backup plan deletion"
            )
        return super().delete_backup_plan(backup_plan_id)

    def _selections(self):
        if not hasattr(self, "_fidelity_selections"):
            self._fidelity_selections = {}
        return self._fidelity_selections

    def create_backup_selection(self, backup_plan_id, backup_selection, creator_request_id):
        from moto.backup.exceptions import AlreadyExistsException
        from moto.core.utils import unix_time
        from moto.moto_api._internal import mock_random

        self._live_plan(backup_plan_id)
        selections = self._selections().setdefault(backup_plan_id, {})
        if any(
            s["BackupSelection"]["SelectionName"] == backup_selection["SelectionName"]
            for s in selections.values()
        ):
            raise AlreadyExistsException(msg="Backup selection with the same name already exists")
        selection = {
            "SelectionName": backup_selection["SelectionName"],
            "IamRoleArn": backup_selection["IamRoleArn"],
            "Resources": backup_selection.get("Resources") or [],
            "ListOfTags": backup_selection.get("ListOfTags") or [],
            "NotResources": backup_selection.get("NotResources") or [],
            "Conditions": {**EMPTY_CONDITIONS, **(backup_selection.get("Conditions") or {})},
        }
        selection_id = str(mock_random.uuid4())
        selections[selection_id] = {
            "BackupSelection": selection,
            "SelectionId": selection_id,
            "BackupPlanId": backup_plan_id,
            "CreationDate": unix_time(),
            "CreatorRequestId": creator_request_id,
        }
        return selections[selection_id]

    def _selection(self, backup_plan_id, selection_id):
        from moto.backup.exceptions import ResourceNotFoundException

        found = self._selections().get(backup_plan_id, {}).get(selection_id)
        if found is None:
            raise ResourceNotFoundException(msg=f"Failed reading backup selection {selection_id}")
        return found

    def get_backup_selection(self, backup_plan_id, selection_id):
        return self._selection(backup_plan_id, selection_id)

    def list_backup_selections(self, backup_plan_id):
        self._live_plan(backup_plan_id)
        return list(self._selections().get(backup_plan_id, {}).values())

    def delete_backup_selection(self, backup_plan_id, selection_id):
        self._selection(backup_plan_id, selection_id)
        del self._selections()[backup_plan_id][selection_id]


class PlansAndSelectionsResponses:
    """Backup responses of UpdateBackupPlan and the selection operations (moto answered 500)."""

    def update_backup_plan(self):
        plan = self.backup_backend.update_backup_plan(
            self._get_param("BackupPlanId"), self._get_param("BackupPlan")
        )
        answer = {
            "BackupPlanId": plan.backup_plan_id,
            "BackupPlanArn": plan.backup_plan_arn,
            "CreationDate": plan.creation_date,
            "VersionId": plan.version_id,
        }
        if plan.advanced_backup_settings:
            answer["AdvancedBackupSettings"] = plan.advanced_backup_settings
        return json.dumps(answer)

    def create_backup_selection(self):
        selection = self.backup_backend.create_backup_selection(
            self._get_param("BackupPlanId"),
            self._get_param("BackupSelection"),
            self._get_param("CreatorRequestId"),
        )
        return json.dumps({k: selection[k] for k in ("SelectionId", "BackupPlanId", "CreationDate")})

    def get_backup_selection(self):
        selection = self.backup_backend.get_backup_selection(
            self._get_param("BackupPlanId"), self._get_param("SelectionId")
        )
        return json.dumps({k: v for k, v in selection.items() if v is not None})

    def list_backup_selections(self):
        selections = self.backup_backend.list_backup_selections(self._get_param("BackupPlanId"))
        members = [
            {
                "SelectionId": s["SelectionId"],
                "SelectionName": s["BackupSelection"]["SelectionName"],
                "BackupPlanId": s["BackupPlanId"],
                "CreationDate": s["CreationDate"],
                "IamRoleArn": s["BackupSelection"]["IamRoleArn"],
                **({"CreatorRequestId": s["CreatorRequestId"]} if s["CreatorRequestId"] else {}),
            }
            for s in selections
        ]
        return json.dumps({"BackupSelectionsList": members})

    def delete_backup_selection(self):
        self.backup_backend.delete_backup_selection(
            self._get_param("BackupPlanId"), self._get_param("SelectionId")
        )
        return "{}"


def _apply_plans_and_selections() -> None:
    from moto.backup.responses import BackupResponse

    extend_backend("moto.backup.models", "backup_backends", PlansAndSelectionsAsAWS)
    response = type("FaithfulBackupResponse", (PlansAndSelectionsResponses, BackupResponse), {})
    route_responses("moto.backup.urls", BackupResponse, response)


FIXES = [
    Fix(
        service="backup",
        name="describe-missing-vault-access-denied",
        summary=(
            "DescribeBackupVault of a vault that does not exist answers 403 AccessDeniedException, as "
            "AWS does (moto: ResourceNotFoundException, which amazon.aws.backup_vault does not take as "
            "'absent')"
        ),
        reference=f"{DESCRIBE_BACKUP_VAULT} (AWS's answer: {AWS_ANSWER})",
        upstream="not in moto 5.2.6 (backup/models.py raises ResourceNotFoundException)",
        apply=_apply,
    ),
    Fix(
        service="backup",
        name="plan-updates-and-selections",
        summary=(
            "UpdateBackupPlan gives a plan a new document and VersionId; a deleted plan's name is free "
            "again; CreateBackupSelection, GetBackupSelection, ListBackupSelections and "
            "DeleteBackupSelection keep a plan's selections, and a plan with selections cannot be deleted "
            "(moto: 500 for those operations, AlreadyExistsException for a deleted plan's name)"
        ),
        reference=(
            f"{UPDATE_PLAN}; {CREATE_PLAN}; {DELETE_PLAN}; {CREATE_SELECTION}; {GET_SELECTION}; "
            f"{LIST_SELECTIONS}; {DELETE_SELECTION}"
        ),
        upstream="not in moto 5.2.6 (backup/responses.py has no update_backup_plan nor selection operations)",
        apply=_apply_plans_and_selections,
    ),
]
