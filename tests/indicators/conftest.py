"""Helpers for the indicator tests: cases opened through the API, bundles built by hand."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
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
def open_case() -> Callable[..., dict[str, Any]]:
    """open_case(client, **fields) -> the created case as JSON (asserts 201)."""

    def create(client: Any, **fields: Any) -> dict[str, Any]:
        response = client.post("/api/v1/cases", json={**CASE, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


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
