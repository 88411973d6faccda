"""AWS Backup: a vault that does not exist, as AWS answers DescribeBackupVault for it."""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError

from . import Fix, extend_backend

DESCRIBE_BACKUP_VAULT = "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeBackupVault.html"
# AWS's answer for a vault that does not exist, reported against the API (403, not the
# ResourceNotFoundException the reference lists): https://github.com/aws/aws-sdk-js/issues/2625
AWS_ANSWER = "https://github.com/aws/aws-sdk-js/issues/2625"


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
]
