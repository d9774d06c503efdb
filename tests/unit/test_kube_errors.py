"""What the API server's 422 becomes: field errors a person can act on, with the rejected values left out."""

from __future__ import annotations

import json

import pytest

from innodb_operator.kube import errors
from innodb_operator.kube.client import _status_error

CAUSES = [
    {"reason": "FieldValueInvalid", "field": "spec.template.spec.containers[0].env[0].value",
     "message": 'Invalid value: "hunter2: the password": must be no more than 63 characters'},
    {"reason": "FieldValueNotSupported", "field": "spec.template.spec.restartPolicy",
     "message": 'Unsupported value: "Sometimes": supported values: "Always"'},
    {"reason": "FieldValueRequired", "field": "spec.template.spec.containers[1].name", "message": "Required value"},
    {"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
     "message": 'Invalid value: map[string]string{"team":"a: b"}: name part must consist of alphanumerics'},
    {"reason": "FieldValueInvalid", "field": "spec.replicas", "message": "Invalid value: -1"},
]


def test_a_422_keeps_each_field_and_what_is_wrong_and_drops_the_values() -> None:
    body = {"kind": "Status", "code": 422, "reason": "Invalid",
            "message": 'StatefulSet.apps "c" is invalid: [...: Invalid value: "hunter2: the password": ...]',
            "details": {"name": "c", "kind": "StatefulSet", "causes": CAUSES}}
    error = _status_error(422, json.dumps(body).encode(), None, "apply statefulsets")
    assert isinstance(error, errors.Invalid)
    assert error.field_errors == (
        "spec.template.spec.containers[0].env[0].value: Invalid value: must be no more than 63 characters; "
        'spec.template.spec.restartPolicy: Unsupported value: supported values: "Always"; '
        "spec.template.spec.containers[1].name: Required value; "
        "spec.template.metadata.labels: Invalid value: name part must consist of alphanumerics; "
        "spec.replicas: Invalid value")
    for value in ("hunter2", "Sometimes", "team"):
        assert value not in error.field_errors


@pytest.mark.parametrize(("text", "expected"), [
    ('Invalid value: "a\\"b: c": detail', "Invalid value: detail"),
    ("Invalid value: 3: must be odd", "Invalid value: must be odd"),
    ('Duplicate value: "x"', "Duplicate value"),
    ("Forbidden: may not be changed", "Forbidden: may not be changed"),
])
def test_a_field_error_loses_only_its_value(text: str, expected: str) -> None:
    assert errors.without_value(text) == expected


def test_a_422_without_causes_is_scrubbed_whole_and_other_codes_are_not_invalid() -> None:
    body = {"message": 'X "c" is invalid: spec.a: Invalid value: "s3cret": bad, spec.b: Invalid value: 7: odd'}
    error = _status_error(422, json.dumps(body).encode(), None, "apply")
    assert isinstance(error, errors.Invalid)
    assert error.field_errors == 'X "c" is invalid: spec.a: Invalid value: bad, spec.b: Invalid value: odd'
    assert not isinstance(_status_error(409, b'{"message": "conflict"}', None, "apply"), errors.Invalid)
