# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS AppConfig feature flag documents: AWS's schema, its value checks, and our rollout rule.

AppConfig validates a hosted configuration version of an ``AWS.AppConfig.FeatureFlags`` profile
against its own JSON Schema (the type reference, transcribed below) and checks each flag's values
against the attributes' constraints the document declares; a document that fails either is refused
by CreateHostedConfigurationVersion with a BadRequestException. ``problems()`` runs the same checks
before any call, so that preflight (the ``appconfig_flag_problems`` filter) and the
``appconfig_feature_flags`` module refuse a bad document by name, before any change.

Our own rule on top of AWS's (``rollout_problems``): every flag the service gates by percentage
declares a ``percentage`` attribute constrained to a number from 0 to 100, so that AppConfig itself
refuses a value out of that range whoever deploys it (the console, the CLI, this collection).

References:
- https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-type-reference-feature-flags.html
- https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile-feature-flags.html
"""

from __future__ import annotations

import json
import re
from typing import Any

try:
    import jsonschema

    HAS_JSONSCHEMA = True
except ImportError:  # pragma: no cover - the module reports it (missing_required_lib)
    HAS_JSONSCHEMA = False

TYPE = "AWS.AppConfig.FeatureFlags"
CONTENT_TYPE = "application/json"
#: keys AppConfig adds to a stored flag or value (not the operator's: ignored when comparing)
AWS_MANAGED_KEYS = ("_createdAt", "_updatedAt")
PERCENTAGE = "percentage"
_KEY = "^[a-z][a-zA-Z\\d_-]{0,63}$"

#: AWS.AppConfig.FeatureFlags, as the AppConfig user guide's type reference publishes it.
SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "flagSetDefinition": {
            "type": "object",
            "properties": {
                "version": {"$ref": "#/definitions/flagSchemaVersions"},
                "flags": {"$ref": "#/definitions/flagDefinitions"},
                "values": {"$ref": "#/definitions/flagValues"},
            },
            "required": ["version"],
            "additionalProperties": False,
        },
        "flagDefinitions": {
            "type": "object",
            "patternProperties": {_KEY: {"$ref": "#/definitions/flagDefinition"}},
            "additionalProperties": False,
        },
        "flagDefinition": {
            "type": "object",
            "properties": {
                "name": {"$ref": "#/definitions/customerDefinedName"},
                "description": {"$ref": "#/definitions/customerDefinedDescription"},
                "_createdAt": {"type": "string"},
                "_updatedAt": {"type": "string"},
                "_deprecation": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["planned"]},
                        "date": {"type": "string", "format": "date"},
                    },
                    "additionalProperties": False,
                },
                "attributes": {"$ref": "#/definitions/attributeDefinitions"},
            },
            "additionalProperties": False,
        },
        "attributeDefinitions": {
            "type": "object",
            "patternProperties": {_KEY: {"$ref": "#/definitions/attributeDefinition"}},
            "maxProperties": 25,
            "additionalProperties": False,
        },
        "attributeDefinition": {
            "type": "object",
            "properties": {
                "description": {"$ref": "#/definitions/customerDefinedDescription"},
                "constraints": {
                    "oneOf": [
                        {"$ref": "#/definitions/numberConstraints"},
                        {"$ref": "#/definitions/stringConstraints"},
                        {"$ref": "#/definitions/arrayConstraints"},
                        {"$ref": "#/definitions/boolConstraints"},
                    ]
                },
            },
            "additionalProperties": False,
        },
        "flagValues": {
            "type": "object",
            "patternProperties": {_KEY: {"$ref": "#/definitions/flagValue"}},
            "additionalProperties": False,
        },
        "flagValue": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "_createdAt": {"type": "string"},
                "_updatedAt": {"type": "string"},
            },
            "patternProperties": {_KEY: {"$ref": "#/definitions/attributeValue", "maxProperties": 25}},
            "required": ["enabled"],
            "additionalProperties": False,
        },
        "attributeValue": {
            "oneOf": [
                {"type": "string", "maxLength": 1024},
                {"type": "number"},
                {"type": "boolean"},
                {
                    "type": "array",
                    "oneOf": [
                        {"items": {"type": "string", "maxLength": 1024}},
                        {"items": {"type": "number"}},
                    ],
                },
            ],
            "additionalProperties": False,
        },
        "stringConstraints": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["string"]},
                "required": {"type": "boolean"},
                "pattern": {"type": "string", "maxLength": 1024},
                "enum": {
                    "type": "array",
                    "maxLength": 100,
                    "items": {"oneOf": [{"type": "string", "maxLength": 1024}, {"type": "integer"}]},
                },
            },
            "required": ["type"],
            "not": {"required": ["pattern", "enum"]},
            "additionalProperties": False,
        },
        "numberConstraints": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["number"]},
                "required": {"type": "boolean"},
                "minimum": {"type": "integer"},
                "maximum": {"type": "integer"},
            },
            "required": ["type"],
            "additionalProperties": False,
        },
        "arrayConstraints": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["array"]},
                "required": {"type": "boolean"},
                "elements": {"$ref": "#/definitions/elementConstraints"},
            },
            "required": ["type"],
            "additionalProperties": False,
        },
        "boolConstraints": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["boolean"]},
                "required": {"type": "boolean"},
            },
            "required": ["type"],
            "additionalProperties": False,
        },
        "elementConstraints": {
            "oneOf": [
                {"$ref": "#/definitions/numberConstraints"},
                {"$ref": "#/definitions/stringConstraints"},
            ]
        },
        "customerDefinedName": {"type": "string", "pattern": "^[^\\n]{1,64}$"},
        "customerDefinedDescription": {"type": "string", "maxLength": 1024},
        "flagSchemaVersions": {"type": "string", "enum": ["1"]},
    },
    "type": "object",
    "$ref": "#/definitions/flagSetDefinition",
    "additionalProperties": False,
}


def _where(path) -> str:
    return (
        "".join(f"[{part!r}]" if isinstance(part, str) else f"[{part}]" for part in path) or "(the document)"
    )


def schema_problems(document: Any) -> list[str]:
    """Where document breaks AWS's AWS.AppConfig.FeatureFlags schema (empty when it conforms)."""
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [
        f"{_where(error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _constraint_problems(where: str, value: Any, constraints: dict[str, Any]) -> list[str]:
    kind = constraints.get("type")
    if _type_of(value) != kind:
        return [f"{where}: {value!r} is not a {kind}"]
    problems = []
    if kind == "number":
        if "minimum" in constraints and value < constraints["minimum"]:
            problems.append(f"{where}: {value!r} is below the minimum {constraints['minimum']}")
        if "maximum" in constraints and value > constraints["maximum"]:
            problems.append(f"{where}: {value!r} is above the maximum {constraints['maximum']}")
    elif kind == "string":
        if "enum" in constraints and value not in constraints["enum"]:
            problems.append(f"{where}: {value!r} is not one of {constraints['enum']}")
        if "pattern" in constraints and not re.search(constraints["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {constraints['pattern']!r}")
    elif kind == "array" and "elements" in constraints:
        for index, element in enumerate(value):
            problems += _constraint_problems(f"{where}[{index}]", element, constraints["elements"])
    return problems


def value_problems(document: dict[str, Any]) -> list[str]:
    """Where the values break the flags' definitions: a value for an undefined flag or attribute, an
    attribute value outside its constraints, a required attribute missing (AppConfig's checks beyond
    the schema). Assumes the document conforms to the schema."""
    flags = document.get("flags") or {}
    problems = []
    for key, value in (document.get("values") or {}).items():
        if key not in flags:
            problems.append(f"['values'][{key!r}]: no flag {key!r} is defined in 'flags'")
            continue
        attributes = flags[key].get("attributes") or {}
        for name, given in value.items():
            if name in ("enabled", *AWS_MANAGED_KEYS):
                continue
            if name not in attributes:
                problems.append(f"['values'][{key!r}][{name!r}]: flag {key!r} defines no attribute {name!r}")
                continue
            constraints = attributes[name].get("constraints")
            if constraints:
                problems += _constraint_problems(f"['values'][{key!r}][{name!r}]", given, constraints)
        for name, definition in attributes.items():
            if (definition.get("constraints") or {}).get("required") and name not in value:
                problems.append(f"['values'][{key!r}]: the required attribute {name!r} has no value")
    return problems


def rollout_problems(document: dict[str, Any], gated: list[str]) -> list[str]:
    """Our rule: each flag in gated is defined, has a value, and declares a ``percentage`` attribute
    constrained to a required number from 0 to 100 (so AppConfig refuses any other value)."""
    flags = document.get("flags") or {}
    values = document.get("values") or {}
    problems = []
    for key in gated:
        if key not in flags:
            problems.append(f"['flags']: the service's flag {key!r} is not defined")
            continue
        if key not in values:
            problems.append(f"['values']: the service's flag {key!r} has no value")
        constraints = ((flags[key].get("attributes") or {}).get(PERCENTAGE) or {}).get("constraints") or {}
        wanted = {"type": "number", "required": True, "minimum": 0, "maximum": 100}
        if any(constraints.get(name) != setting for name, setting in wanted.items()):
            problems.append(
                f"['flags'][{key!r}]['attributes']: {PERCENTAGE!r} must be constrained to {wanted} "
                f"(found {constraints or 'none'})"
            )
    return problems


def problems(document: Any, gated: list[str] | None = None) -> list[str]:
    """Every reason AppConfig (or our rollout rule, for the flags in gated) would refuse document."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError as error:
            return [f"(the document): not JSON ({error})"]
    found = schema_problems(document)
    if found:
        return found
    return value_problems(document) + rollout_problems(document, list(gated or []))


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what AppConfig adds when it stores one (timestamps): what an operator set."""

    def strip(entries: dict[str, Any]) -> dict[str, Any]:
        return {
            key: {name: item for name, item in entry.items() if name not in AWS_MANAGED_KEYS}
            for key, entry in (entries or {}).items()
        }

    result = dict(document)
    for part in ("flags", "values"):
        if part in result:
            result[part] = strip(result[part])
    return result


def evaluated(document: dict[str, Any]) -> dict[str, Any]:
    """What the data plane (GetLatestConfiguration) answers for a feature flag profile: each flag's
    value (``enabled`` and its attributes), without the definitions."""
    return {
        key: {name: item for name, item in value.items() if name not in AWS_MANAGED_KEYS}
        for key, value in (document.get("values") or {}).items()
    }
