"""Helpers for the case tests: open cases through the API as a given client."""

from __future__ import annotations

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
def case_fields() -> dict[str, Any]:
    """What `open_case` (tests/conftest.py) sends for these tests' cases."""
    return CASE


def move(client: Any, case: dict[str, Any], to: str, **fields: Any) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/transition", json={"to": to, **fields})
