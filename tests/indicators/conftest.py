"""Helpers for the indicator tests: cases opened through the API, bundles built by hand."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, SHARED_DATA

STIX_DIR = SHARED_DATA / "stix"
T = "2026-01-01T00:00:00.000Z"
CASE = {
    "title": "Beaconing from a finance laptop",
    "description": "EDR alert on outbound traffic.",
    "category": "malicious-code",
    "impact": "medium",
    "urgency": "high",
}


def shared(name: str) -> Path:
    path = STIX_DIR / name
    if not path.is_file():
        message = f"shared STIX data missing: {path}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def case_fields() -> dict[str, Any]:
    """What `open_case` (tests/conftest.py) sends for these tests' cases."""
    return CASE


def add(client: Any, case: dict[str, Any], type_: str, value: str, **extra: Any) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/indicators", json={"type": type_, "value": value, **extra})


def indicator(pattern: str, *, modified: str = T, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": extra.pop("id", f"indicator--{uuid.uuid4()}"),
            "created": T, "modified": modified, "pattern": pattern, "pattern_type": "stix", "valid_from": T, **extra}


def bundle_of(*objects: Any) -> dict[str, Any]:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}


def post_bundle(client: Any, case: dict[str, Any], data: Any, **params: str) -> Any:
    raw = data if isinstance(data, bytes | str) else json.dumps(data)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/v1/cases/{case['id']}/stix" + (f"?{query}" if query else ""), data=raw,
                       headers={"Content-Type": "application/json"})


def export(client: Any, case: dict[str, Any], **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(f"/api/v1/cases/{case['id']}/stix" + (f"?{query}" if query else ""))


# Every real STIX 2.1 bundle in shared data, with the objects it holds by type: each must import whole.
ACCEPTED = {
    "apt1.json": {"attack-pattern": 7, "identity": 4, "indicator": 12, "intrusion-set": 1, "malware": 6,
                  "relationship": 30, "report": 1, "threat-actor": 5, "tool": 10},
    "indicators-for-C2-with-COA.json": {"course-of-action": 1, "identity": 1, "indicator": 2, "malware": 1,
                                        "relationship": 3},
    "infrastructure.json": {"domain-name": 1, "infrastructure": 2, "ipv4-addr": 1, "malware": 2, "relationship": 4},
    "malicious-email-indicator-with-attachment.json": {"attack-pattern": 1, "identity": 1, "indicator": 2,
                                                       "relationship": 2},
    "misp_test_event2_stix21.json": {"domain-name": 1, "file": 1, "grouping": 2, "identity": 1, "indicator": 2,
                                     "ipv4-addr": 1, "observed-data": 2, "relationship": 2},
    "misp_test_objects_collection_stix21.json": {"directory": 1, "email-addr": 2, "email-message": 1, "file": 1,
                                                 "indicator": 3, "ipv4-addr": 1, "observed-data": 4,
                                                 "relationship": 3, "user-account": 1, "domain-name": 1},
    "sighting-of-an-indicator.json": {"identity": 2, "indicator": 1, "sighting": 1},
    "using-marking-definitions.json": {"identity": 1, "indicator": 1, "marking-definition": 2},
}
