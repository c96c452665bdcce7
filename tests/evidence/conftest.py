"""Helpers for the evidence tests: a keyring in the instance dir, cases and uploads through the API."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from casemgr import collaborators
from casemgr.config import Settings
from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from casemgr.evidence.vault import EvidenceVault

CASE = {"title": "Ransomware on the file server", "description": "Encrypted shares.", "category": "malicious-code",
        "impact": "high", "urgency": "high"}


@pytest.fixture(autouse=True)
def keyring(instance_dir: Path) -> Keyring:
    """The evidence keyring `casemgr init` creates (shared by the session's instance dir)."""
    return Keyring.create(instance_dir / KEYRING_FILE)


@pytest.fixture
def vault(app: Flask) -> EvidenceVault:
    return collaborators.vault(app.extensions["casemgr.db"])


@pytest.fixture
def case_fields() -> dict[str, Any]:
    """What `open_case` (tests/conftest.py) sends for these tests' cases."""
    return CASE


BOUNDARY = "casemgr-test-boundary-7d1f"


def multipart(data: bytes, filename: str = "evidence.bin", **fields: str) -> tuple[bytes, str]:
    """A multipart/form-data body (fields, then `file`) and its Content-Type.

    Built here rather than by the test client, which spools bodies over 500 KB to a temporary
    file it never closes."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = b"".join(parts) + head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def unfinished_upload(netloc: str, token: str, case_id: int, data: bytes, filename: str, *, declared: int,
                      **fields: str) -> bytes:
    """The raw HTTP request of an evidence upload that declares `declared` body bytes but stops
    before the multipart body's closing boundary: what a client sends before its link drops."""
    body, content_type = multipart(data, filename, **fields)
    head = (f"POST /api/v1/cases/{case_id}/evidence HTTP/1.1\r\nHost: {netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode()
    return head + body[: len(body) - len(f"\r\n--{BOUNDARY}--\r\n")]


def upload(client: Any, case_id: int, data: bytes, filename: str = "evidence.bin", **fields: Any) -> Any:
    body, content_type = multipart(data, filename, **fields)
    return client.post(f"/api/v1/cases/{case_id}/evidence", data=body, content_type=content_type)


def stored_files(settings: Settings) -> list[str]:
    """Everything in the evidence directory (temporary files included)."""
    root = settings.evidence_dir
    return sorted(os.listdir(root)) if root.exists() else []


@pytest.fixture
def add_item(api: Callable[..., Any], open_case: Callable[..., dict[str, Any]]) -> Callable[..., tuple[Any, dict]]:
    """add_item(data, client=None) -> (client, item JSON): a case opened by an analyst with one upload."""

    def add(data: bytes = b"evidence content\n", client: Any = None, filename: str = "evidence.bin",
            **fields: Any) -> tuple[Any, dict[str, Any]]:
        client = client or api("analyst")
        case = open_case(client)
        response = upload(client, case["id"], data, filename, **fields)
        assert response.status_code == 201, response.get_json()
        return client, {**response.get_json(), "case_id": case["id"]}

    return add
