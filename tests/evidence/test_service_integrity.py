"""Tampering with stored evidence is caught on download (a broken transfer, never a short file that
looks complete) and on verify, and each failure is recorded in custody, in the audit log and as
the case's integrity alarm."""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import select, update

from casemgr.evidence.crypto import BATCH_BYTES, DEFAULT_SEGMENT_SIZE, HEADER_SIZE, TAG_SIZE
from casemgr.evidence.models import EvidenceItem

from .conftest import stored_files, upload

SEG = DEFAULT_SEGMENT_SIZE + TAG_SIZE


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def truncate_at_boundary(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: HEADER_SIZE + 2 * SEG])


def swap_segments(path: Path) -> None:
    data = path.read_bytes()
    first, second = data[HEADER_SIZE:HEADER_SIZE + SEG], data[HEADER_SIZE + SEG:HEADER_SIZE + 2 * SEG]
    path.write_bytes(data[:HEADER_SIZE] + second + first + data[HEADER_SIZE + 2 * SEG:])


def edit_header(path: Path) -> None:
    flip_byte(path, 15)  # in the nonce prefix


TAMPERING = {
    "flipped byte": lambda p: flip_byte(p, HEADER_SIZE + SEG + 100),
    "flipped byte in the last segment": lambda p: flip_byte(p, p.stat().st_size - 3),
    "truncated at a segment boundary": truncate_at_boundary,
    "truncated inside a segment": lambda p: p.write_bytes(p.read_bytes()[:-10]),
    "swapped segments": swap_segments,
    "edited header": edit_header,
}


@pytest.fixture
def stored(api, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    data = os.urandom(3 * DEFAULT_SEGMENT_SIZE + 1000)
    item = upload(analyst, case["id"], data, "memory.dmp").get_json()
    path = settings.evidence_dir / stored_files(settings)[0]
    return analyst, case, item, path, data


def raw_download(base_url: str, token: str, item_id: int) -> tuple[int, bytes, int | None, str | None]:
    """(status, body bytes received, declared length, error) over a real connection."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", f"/api/v1/evidence/{item_id}/content?purpose=analysis",
                 headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    declared = response.getheader("Content-Length")
    try:
        body, error = response.read(), None
    except http.client.IncompleteRead as exc:
        body, error = exc.partial, "incomplete"
    finally:
        conn.close()
    return response.status, body, int(declared) if declared else None, error


@pytest.mark.parametrize("tamper", list(TAMPERING))
def test_download_of_tampered_evidence_breaks_off_and_raises_the_alarm(stored, live_server, login, tamper):
    analyst, case, item, path, data = stored
    TAMPERING[tamper](path)
    status, body, declared, error = raw_download(live_server, analyst.token, item["id"])
    if status == 200:
        # The transfer started and was cut: the client sees fewer bytes than announced.
        assert error == "incomplete"
        assert declared == len(data)
        assert len(body) < len(data)
        assert data.startswith(body)
    else:
        assert status == 500  # found before any content left (header, first segment)
    custody = analyst.get(f"/api/v1/evidence/{item['id']}/custody").get_json()
    failure = custody["events"][-1]
    assert failure["kind"] == "verified"
    assert failure["details"]["result"] == "failed"
    assert failure["alarm"] is True
    assert custody["chain_valid"] is True
    assert analyst.get(f"/api/v1/evidence/{item['id']}").get_json()["integrity"] == "failed"
    page = login("manager").get(f"/cases/{case['id']}")
    assert 'data-testid="evidence-alarm"' in page.get_data(as_text=True)
    assert "memory.dmp" in page.get_data(as_text=True)


@pytest.mark.parametrize("tamper", list(TAMPERING))
def test_verify_detects_tampering(stored, tamper, api):
    analyst, case, item, path, _ = stored
    assert analyst.post(f"/api/v1/evidence/{item['id']}/verify").get_json()["ok"] is True
    TAMPERING[tamper](path)
    result = api("auditor").post(f"/api/v1/evidence/{item['id']}/verify")
    assert result.status_code == 200
    assert result.get_json()["ok"] is False
    assert result.get_json()["integrity"] == "failed"
    assert result.get_json()["detail"]
    events = analyst.get(f"/api/v1/evidence/{item['id']}/custody").get_json()["events"]
    assert [e["details"].get("result") for e in events if e["kind"] == "verified"] == ["ok", "failed"]
    audit = api("auditor").get(f"/api/v1/audit?object_type=evidence&object_id={item['id']}").get_json()["items"]
    assert audit[0]["action"] == "evidence.verified"
    assert audit[0]["summary"]["result"] == "failed"


def test_a_segment_from_another_file_is_detected(api, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    first = upload(analyst, case["id"], os.urandom(2 * DEFAULT_SEGMENT_SIZE)).get_json()
    before = set(stored_files(settings))
    second = upload(analyst, case["id"], os.urandom(2 * DEFAULT_SEGMENT_SIZE)).get_json()
    (second_file,) = set(stored_files(settings)) - before
    (first_file,) = before
    a, b = (settings.evidence_dir / first_file), (settings.evidence_dir / second_file)
    spliced = a.read_bytes()[:HEADER_SIZE] + b.read_bytes()[HEADER_SIZE:HEADER_SIZE + SEG] + a.read_bytes()[
        HEADER_SIZE + SEG:]
    a.write_bytes(spliced)
    assert analyst.post(f"/api/v1/evidence/{first['id']}/verify").get_json()["ok"] is False
    assert analyst.post(f"/api/v1/evidence/{second['id']}/verify").get_json()["ok"] is True


def test_a_record_whose_hash_was_changed_fails_before_the_last_byte(api, open_case, live_server, db):
    # Content of several read batches: streaming has begun when the final hash check fails.
    analyst = api("analyst")
    data = os.urandom(3 * BATCH_BYTES + 1000)
    item = upload(analyst, open_case(analyst)["id"], data, "disk.dd").get_json()
    with db.transaction() as s:
        s.execute(update(EvidenceItem).where(EvidenceItem.id == item["id"]).values(sha256="0" * 64))
    status, body, declared, error = raw_download(live_server, analyst.token, item["id"])
    assert status == 200
    assert error == "incomplete"
    assert 0 < len(body) < int(declared or 0)
    assert data.startswith(body)
    with db.transaction() as s:
        assert s.scalar(select(EvidenceItem.integrity).where(EvidenceItem.id == item["id"])) == "failed"


def test_content_failing_before_its_first_byte_gets_an_error_reply(stored, live_server, db):
    # Content of one read batch is checked whole before any of it is sent.
    analyst, _, item, _, _ = stored
    with db.transaction() as s:
        s.execute(update(EvidenceItem).where(EvidenceItem.id == item["id"]).values(sha256="0" * 64))
    status, body, _, _ = raw_download(live_server, analyst.token, item["id"])
    assert status == 500
    error = json.loads(body)["error"]
    assert error["code"] == "integrity_failure"
    assert "differs from the one recorded at intake" in error["message"]
    assert analyst.get(f"/api/v1/evidence/{item['id']}").get_json()["integrity"] == "failed"


def test_a_missing_file_is_an_integrity_failure(stored, api):
    analyst, _, item, path, _ = stored
    path.unlink()
    got = analyst.get(f"/api/v1/evidence/{item['id']}/content?purpose=look")
    assert got.status_code == 500
    assert got.get_json()["error"]["code"] == "integrity_failure"
    assert analyst.get(f"/api/v1/evidence/{item['id']}").get_json()["integrity"] == "failed"
