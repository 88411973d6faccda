#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: pii_keyring
short_description: Manage the KMS-wrapped data keys of PII envelope encryption and re-encrypt rows
version_added: 0.1.0
description:
  - Keeps one active, versioned data key per O(purpose) in the C(encryption_keys) table of the
    platform database. A new version is made with KMS C(GenerateDataKey) under O(kms_key_id) and
    only the KMS-wrapped key is stored; the plaintext key never leaves the module process, is never
    logged nor returned, and is zeroized (best effort) before the module exits.
  - O(state=present) creates version 1 when the purpose has no active key and otherwise changes
    nothing (idempotent). O(state=rotated) always creates the next version and makes it the active
    one; it is a runbook action, not something to put in a converging play.
  - With O(reencrypt=true) every value of O(columns) not on the active version is moved onto it in
    batches of O(batch_size) rows, one transaction per batch, so an interrupted run resumes where
    it stopped. For O(purpose=pii) the ciphertext is decrypted under its own version and encrypted
    under the active one; for O(purpose=blind_index) the HMAC is recomputed from the decrypted
    O(columns[].source_column). Unwrapped keys are cached, so a run costs one KMS C(Decrypt) per key
    version, not per row. When no row is left on an inactive version (and O(columns) is the default
    set), that version is marked retired (C(retired_at)).
  - Fills a gap, no stock module manages application-level envelope keys; C(amazon.aws.kms_key)
    manages the KMS key itself (use it first), C(community.postgresql) modules cannot call KMS nor
    re-encrypt rows.
  - The field format and the key hierarchy are described in C(docs/adr/0002-envelope-encryption.md);
    the same code (C(plugins/module_utils/envelope.py)) is what the application uses.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  purpose:
    description:
      - Which key family, C(pii) (AES-256-GCM field encryption) or C(blind_index) (HMAC-SHA256 lookup tokens).
    type: str
    required: true
    choices: [pii, blind_index]
  kms_key_id:
    description:
      - KMS key (id, ARN, alias name or alias ARN) that wraps a new data key. The key ARN KMS
        answers with is what is stored, so moving the alias later does not orphan old versions.
      - Required with O(state=rotated), and with O(state=present) when the purpose has no key yet.
      - Not compared with existing versions; a different key is taken into use by rotating.
    type: str
  state:
    description: V(present) ensures an active key exists; V(rotated) creates a new version and activates it.
    type: str
    default: present
    choices: [present, rotated]
  reencrypt:
    description: Move every value of O(columns) onto the active version (after rotating, when rotating).
    type: bool
    default: false
  batch_size:
    description: Rows per transaction when re-encrypting (rows of a batch are locked until it commits).
    type: int
    default: 500
  columns:
    description:
      - Columns to re-encrypt. The default is every PII column of the schema.
      - "For O(purpose=pii): C(users.email_ciphertext), C(users.phone_ciphertext),
        C(user_profiles.first_name_ciphertext), C(user_profiles.last_name_ciphertext),
        C(user_profiles.date_of_birth_ciphertext), C(wallet_accounts.private_key_ciphertext)."
      - "For O(purpose=blind_index): C(users.email_bidx) from C(email_ciphertext) and C(users.phone_bidx)
        from C(phone_ciphertext)."
      - Names are lower-case SQL identifiers (letters, digits, underscore).
    type: list
    elements: dict
    suboptions:
      table:
        description: Table name.
        type: str
        required: true
      column:
        description: Column holding ciphertext (pii) or the blind index (blind_index).
        type: str
        required: true
      id_column:
        description: Primary key column, bound into the ciphertext's associated data.
        type: str
        default: id
      source_column:
        description: For O(purpose=blind_index) only, the pii ciphertext column the index is computed from.
        type: str
notes:
  - Supports check mode, which reads C(encryption_keys) and counts the rows that would be
    re-encrypted but calls neither KMS nor writes anything. When C(encryption_keys) does not
    exist yet (migrations not applied, as in a plan of a fresh environment) check mode reports
    that version 1 would be created.
  - Supports diff (the active version before and after).
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
requirements:
  - psycopg >= 3.2
  - cryptography
extends_documentation_fragment:
  - giftcrypto.platform.postgres
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the PII data key exists (version 1 on a fresh database, no change afterwards)
  giftcrypto.platform.pii_keyring:
    login_host: 127.0.0.1
    login_user: migrator
    login_password: "{{ migrator_password }}"
    login_db: giftcrypto
    ssl_mode: verify-full
    ca_cert: /etc/giftcrypto/pki/ca.crt
    kms_key_id: alias/giftcrypto-local-pii
    purpose: pii
  no_log: true

- name: Rotate the PII data key and move every row onto it, 1000 rows per transaction
  giftcrypto.platform.pii_keyring:
    login_host: 127.0.0.1
    login_user: migrator
    login_password: "{{ migrator_password }}"
    login_db: giftcrypto
    kms_key_id: alias/giftcrypto-local-pii
    purpose: pii
    state: rotated
    reencrypt: true
    batch_size: 1000
  no_log: true

- name: Finish an interrupted blind-index recomputation (only the email column)
  giftcrypto.platform.pii_keyring:
    login_host: 127.0.0.1
    login_user: migrator
    login_password: "{{ migrator_password }}"
    login_db: giftcrypto
    purpose: blind_index
    reencrypt: true
    columns:
      - table: users
        column: email_bidx
        source_column: email_ciphertext
  no_log: true
"""

RETURN = r"""
purpose:
  description: The key family managed.
  returned: always
  type: str
  sample: pii
version:
  description: The active key version after the run (in check mode, the one that would be active).
  returned: always
  type: int
  sample: 2
active:
  description: Whether RV(version) is (or would be) the active version.
  returned: always
  type: bool
  sample: true
created:
  description: Whether a new key version was (or would be) created.
  returned: always
  type: bool
  sample: true
previous_version:
  description: The version that was active before the run, null when there was none.
  returned: always
  type: int
  sample: 1
kms_key_id:
  description:
    - ARN of the KMS key wrapping the active version (what KMS answered; in check mode the requested id).
  returned: when a key exists or would be created
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
rows_reencrypted:
  description: Number of values rewritten onto the active version (0 in check mode).
  returned: always
  type: int
  sample: 3000
reencrypted:
  description: Values rewritten per C(table.column).
  returned: always
  type: dict
  sample: {"users.email_ciphertext": 1000, "users.phone_ciphertext": 800}
rows_pending:
  description:
    - Values not on the active version per C(table.column), counted with O(reencrypt=true)
      (after the run; in check mode, what would be rewritten).
  returned: always
  type: dict
  sample: {"users.email_ciphertext": 0}
retired_versions:
  description: Inactive versions marked retired by this run because no row uses them any more.
  returned: always
  type: list
  elements: int
  sample: [1]
queries:
  description: SQL statements executed (parameterised text, never values nor key material).
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_advisory_xact_lock(hashtext(%s))"]
"""

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope, pg

TABLE_EXISTS = "SELECT to_regclass('encryption_keys') IS NOT NULL"

ARGUMENT_SPEC = dict(
    **pg.connection_argument_spec(),
    purpose=dict(type="str", required=True, choices=list(envelope.PURPOSES)),
    kms_key_id=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "rotated"]),
    reencrypt=dict(type="bool", default=False),
    batch_size=dict(type="int", default=500),
    columns=dict(
        type="list",
        elements="dict",
        options=dict(
            table=dict(type="str", required=True),
            column=dict(type="str", required=True),
            id_column=dict(type="str", default="id"),
            source_column=dict(type="str"),
        ),
    ),
)

REQUIRED_IF = [("state", "rotated", ["kms_key_id"])]


def field_specs(params):
    """The FieldSpecs to re-encrypt, and whether they are the default (complete) set.

    Raises ValueError with a message naming the option and the rule.
    """
    purpose = params["purpose"]
    if not params["columns"]:
        return envelope.DEFAULT_FIELDS[purpose], True
    specs = []
    for index, item in enumerate(params["columns"]):
        where = f"columns[{index}]"
        if purpose == "blind_index" and not item.get("source_column"):
            raise ValueError(f"{where}.source_column is required when purpose=blind_index")
        if purpose == "pii" and item.get("source_column"):
            raise ValueError(f"{where}.source_column is only valid when purpose=blind_index")
        try:
            specs.append(
                envelope.FieldSpec(
                    item["table"], item["column"], item.get("id_column") or "id", item.get("source_column")
                )
            )
        except envelope.EnvelopeError as error:
            raise ValueError(f"{where}: {error}") from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("columns: a table.column appears more than once")
    complete = {s.name for s in envelope.DEFAULT_FIELDS[purpose]} <= set(names)
    return tuple(specs), complete


def check_params(params):
    """Rules beyond the argument spec, before any connection. Raises ValueError."""
    if not 1 <= params["batch_size"] <= 100000:
        raise ValueError(f"batch_size must be between 1 and 100000, got {params['batch_size']}")
    if params["connect_timeout"] < 1:
        raise ValueError("connect_timeout must be at least 1 second")
    if params["kms_key_id"] is not None and not params["kms_key_id"].strip():
        raise ValueError("kms_key_id must not be empty")
    return field_specs(params)


def run(module, conn, specs, complete):
    params = module.params
    purpose = params["purpose"]
    queries = []
    result = dict(
        changed=False,
        purpose=purpose,
        version=None,
        active=True,
        created=False,
        previous_version=None,
        rows_reencrypted=0,
        reencrypted={s.name: 0 for s in specs},
        rows_pending={},
        retired_versions=[],
        queries=queries,
    )

    with conn.cursor() as cur:
        queries.append(TABLE_EXISTS)
        cur.execute(TABLE_EXISTS)
        table_exists = cur.fetchone()[0]
    conn.rollback()
    if not table_exists:
        if module.check_mode:
            module.warn(
                "encryption_keys does not exist yet (migrations not applied): version 1 would be created"
            )
            result.update(changed=True, created=True, version=1, kms_key_id=params["kms_key_id"])
            return result
        module.fail_json(
            msg="encryption_keys does not exist: apply the migrations (db_schema) first", **result
        )

    source = envelope.PostgresKeySource(conn, queries)
    try:
        current = source.active(purpose)
    except envelope.KeyNotFoundError:
        current = None
    conn.rollback()
    create = params["state"] == "rotated" or current is None
    if create and not params["kms_key_id"]:
        module.fail_json(msg=f"kms_key_id is required: purpose {purpose} has no active key to keep", **result)
    result["previous_version"] = current.version if current else None

    if create:
        with conn.cursor() as cur:
            queries.append(envelope.NEXT_VERSION)
            cur.execute(envelope.NEXT_VERSION, (purpose,))
            target = int(cur.fetchone()[0])
        conn.rollback()
    else:
        target = current.version
    result.update(version=target, created=create, changed=create)
    result["kms_key_id"] = current.kms_key_id if current and not create else params["kms_key_id"]

    if params["reencrypt"]:
        blockers = envelope.rls_blockers(conn, specs, queries)
        if blockers:
            module.fail_json(
                msg=f"cannot re-encrypt as {params['login_user']}: row-level security hides rows of "
                f"{', '.join(blockers)} from it. Re-encryption must read and update every row: give this "
                "role a permissive policy FOR SELECT and FOR UPDATE (or FOR ALL) USING (true) on those "
                "tables, or connect as a role with BYPASSRLS.",
                **result,
            )

    if module.check_mode:
        if params["reencrypt"]:
            pending = envelope.count_pending(conn, specs, target, queries)
            conn.rollback()
            result["rows_pending"] = pending
            result["changed"] = result["changed"] or any(pending.values())
        return result

    kms = envelope.KmsClient(module.client("kms"))
    keyring = envelope.EnvelopeKeyring(kms, source)
    try:
        if create:
            wrapped, key = envelope.create_key_version(conn, kms, purpose, params["kms_key_id"], queries)
            keyring.add(key)
            result.update(version=wrapped.version, kms_key_id=wrapped.kms_key_id)
        if params["reencrypt"]:
            version = result["version"]
            done = envelope.reencrypt(conn, keyring, purpose, version, specs, params["batch_size"], queries)
            result["reencrypted"] = done
            result["rows_reencrypted"] = sum(done.values())
            pending = envelope.count_pending(conn, specs, version, queries)
            conn.rollback()
            result["rows_pending"] = pending
            if complete and not any(pending.values()):
                result["retired_versions"] = envelope.retire_unused_versions(conn, purpose, queries)
            result["changed"] = bool(create or result["rows_reencrypted"] or result["retired_versions"])
    finally:
        keyring.clear()
    return result


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    pg.ensure_psycopg(module)
    if not envelope.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    try:
        specs, complete = check_params(module.params)
    except ValueError as error:
        module.fail_json(msg=str(error))

    conn = pg.connect(module, autocommit=False)
    try:
        result = run(module, conn, specs, complete)
    except envelope.EnvelopeError as error:
        module.fail_json(msg=f"pii_keyring ({module.params['purpose']}): {error}")
    except pg.psycopg.Error as error:
        module.fail_json(msg=f"pii_keyring ({module.params['purpose']}): database error: {error}")
    finally:
        conn.close()

    if module._diff:
        result["diff"] = dict(
            before=dict(purpose=result["purpose"], active_version=result["previous_version"]),
            after=dict(purpose=result["purpose"], active_version=result["version"]),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
