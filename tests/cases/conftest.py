"""Helpers for the case tests: open cases through the API as a given client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

CASE = {
    "title": "Phishing wave against finance",
    "description": "Several users received a fake invoice.",
    "category": "fraud",
    "subcategory": "phishing",
    "impact": "medium",
    "urgency": "high",
}


@pytest.fixture
def open_case() -> Callable[..., dict[str, Any]]:
    """open_case(client, **fields) -> the created case as JSON (asserts 201)."""

    def create(client: Any, **fields: Any) -> dict[str, Any]:
        response = client.post("/api/v1/cases", json={**CASE, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


def move(client: Any, case: dict[str, Any], to: str, **fields: Any) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/transition", json={"to": to, **fields})
