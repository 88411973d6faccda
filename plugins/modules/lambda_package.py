#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: lambda_package
short_description: Build a reproducible .zip deployment package of a Python Lambda function
version_added: 0.1.0
description:
  - Writes O(dest), a .zip archive of O(files) (each at its path in the archive) and of the contents of
    O(wheels) (unpacked at the archive's root, as C(pip install --target) would lay them out), the
    layout of a Python function's .zip deployment package.
  - The archive is reproducible - the same inputs give the same bytes (entries in name order, a fixed
    date, fixed permissions, one compression level) - so C(amazon.aws.lambda), which compares the
    package's SHA-256 with the function's C(CodeSha256), updates the function only when its code
    changed. O(dest) is rewritten only when its content differs.
  - The gap it fills - C(community.general.archive) keeps each file's modification time in the
    archive (a new archive, and a new function version, at every build) and cannot unpack wheels into
    it.
  - Runs on the controller (C(delegate_to) localhost); it downloads nothing (the caller fetches the
    wheels, pinned by hash).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  dest:
    description: Path of the .zip to write.
    type: path
    required: true
  files:
    description: Files to put in the archive.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Path of the file on the controller.
        type: path
        required: true
      dest:
        description: Its path in the archive (relative, C(/)-separated).
        type: str
        required: true
  wheels:
    description:
      - Wheels (C(.whl)) whose contents go to the archive's root. A wheel with a C(.data) directory
        (scripts, headers) is refused; two inputs with the same path in the archive are refused.
    type: list
    elements: path
    default: []
  mode:
    description: Permissions of O(dest).
    type: str
    default: "0644"
notes:
  - Supports check mode (it builds the archive in memory and says whether O(dest) would change) and diff
    (the archive's SHA-256 and entries before and after).
"""

EXAMPLES = r"""
- name: Build the rotation function's package from the collection's code and the pinned wheels
  giftcrypto.platform.lambda_package:
    dest: /var/cache/giftcrypto/secret-rotation.zip
    files:
      - src: "{{ playbook_dir }}/../plugins/module_utils/secret_rotation.py"
        dest: secret_rotation.py
    wheels: "{{ downloaded.files }}"
  delegate_to: localhost
  register: package

- name: Deploy it
  amazon.aws.lambda:
    name: secret-rotation
    zip_file: "{{ package.path }}"
"""

RETURN = r"""
path:
  description: Path of the package.
  returned: always
  type: str
  sample: /var/cache/giftcrypto/secret-rotation.zip
sha256:
  description: SHA-256 of the package, hexadecimal.
  returned: always
  type: str
  sample: 0f343b0931126a20f133d67c2b018a3b8b0f2e1a5d1c0b6b4c2b2a9e1e7f3a11
code_sha256:
  description: SHA-256 of the package, base64 (what Lambda reports as the function's C(CodeSha256)).
  returned: always
  type: str
  sample: DzQ7CTESaiDxM9Z8KwGKO4sPLhpdHAtrTCsqnh5/OhE=
size:
  description: Size of the package in bytes.
  returned: always
  type: int
  sample: 3145728
entries:
  description: Number of files in the archive.
  returned: always
  type: int
  sample: 412
"""

import base64
import hashlib
import io
import os
import posixpath
import tempfile
import zipfile

from ansible.module_utils.basic import AnsibleModule

# The earliest date a zip entry can carry: the same for every build.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


class PackageProblem(Exception):
    """An input the package cannot be built from; the message names it."""


def _arcname(name: str, origin: str) -> str:
    normal = posixpath.normpath(name)
    if not name or name.startswith("/") or normal.startswith("..") or normal == "." or "\\" in name:
        raise PackageProblem(f"{origin}: {name!r} is not a relative path inside the archive")
    return normal


def collect(files: list[dict], wheels: list[str]) -> dict[str, tuple[bytes, str]]:
    """The archive's entries, {path in the archive: (content, where it comes from)}."""
    entries: dict[str, tuple[bytes, str]] = {}

    def add(name: str, content: bytes, origin: str) -> None:
        if name in entries:
            raise PackageProblem(f"{name} comes from both {entries[name][1]} and {origin}")
        entries[name] = (content, origin)

    for item in files:
        name = _arcname(item["dest"], f"files[dest={item['dest']}]")
        try:
            with open(item["src"], "rb") as handle:
                add(name, handle.read(), item["src"])
        except OSError as error:
            raise PackageProblem(f"files: cannot read {item['src']}: {error.strerror}") from None
    for wheel in wheels:
        if not wheel.endswith(".whl"):
            raise PackageProblem(f"wheels: {wheel} is not a wheel (.whl)")
        try:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    top = info.filename.split("/", 1)[0]
                    if top.endswith(".data"):
                        raise PackageProblem(
                            f"wheels: {wheel} has a {top} directory (scripts or headers), which a "
                            "package unpacked at its root cannot lay out"
                        )
                    add(_arcname(info.filename, wheel), archive.read(info), wheel)
        except (OSError, zipfile.BadZipFile) as error:
            raise PackageProblem(f"wheels: cannot read {wheel}: {error}") from None
    return entries


def build(entries: dict[str, tuple[bytes, str]]) -> bytes:
    """The archive's bytes: entries in name order, a fixed date and mode, one compression level."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.external_attr = (0o100000 | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode above is read
            archive.writestr(info, entries[name][0], compresslevel=9)
    return buffer.getvalue()


def _summary(content: "bytes | None") -> dict:
    """What the diff shows of a package: its digest, size and entries (never a file's content)."""
    if content is None:
        return {}
    summary = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            summary["entries"] = sorted(archive.namelist())
    except zipfile.BadZipFile:
        summary["entries"] = []
    return summary


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "src": {"type": "path", "required": True},
                    "dest": {"type": "str", "required": True},
                },
            },
            "wheels": {"type": "list", "elements": "path", "default": []},
            "mode": {"type": "str", "default": "0644"},
        },
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    if not module.params["files"] and not module.params["wheels"]:
        module.fail_json(msg="Refused before any change: files, wheels: nothing to package")
    try:
        entries = collect(module.params["files"], module.params["wheels"])
        content = build(entries)
    except PackageProblem as problem:
        module.fail_json(msg=f"Refused before any change: {problem}")
    before = None
    if os.path.exists(dest):
        with open(dest, "rb") as handle:
            before = handle.read()
    changed = before != content
    if changed and not module.check_mode:
        directory = os.path.dirname(dest) or "."
        try:
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=".lambda-package.", suffix=".zip")
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            module.atomic_move(temporary, dest)
        except OSError as error:
            module.fail_json(msg=f"Could not write {dest}: {error}")
    if not module.check_mode or os.path.exists(dest):
        changed = module.set_fs_attributes_if_different(
            module.load_file_common_arguments({"path": dest, "mode": module.params["mode"]}), changed
        )
    result = {
        "changed": changed,
        "path": dest,
        "sha256": hashlib.sha256(content).hexdigest(),
        "code_sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
        "size": len(content),
        "entries": len(entries),
    }
    if module._diff:
        result["diff"] = {"before": _summary(before), "after": _summary(content)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
