"""Evidence through the API: upload and download round trips, metadata, custody, role rules, bad input."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from casemgr.evidence.crypto import DEFAULT_SEGMENT_SIZE

from .conftest import stored_files, upload

SEG = DEFAULT_SEGMENT_SIZE


@pytest.mark.parametrize("size", [0, 1, 100, SEG - 1, SEG, 3 * SEG, 3 * SEG + 7, 2 * 1024 * 1024 + 5])
def test_upload_and_download_round_trip(api, open_case, settings, size):
    analyst = api("analyst")
    case = open_case(analyst)
    data = os.urandom(size)
    response = upload(analyst, case["id"], data, "disk image.dd", description="Laptop disk",
                      collected_by="J. Doe", collected_at="2026-11-20T10:00:00Z", source="laptop LT-042",
                      acquisition_method="dd over write blocker")
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["size"] == size
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["sha1"] == hashlib.sha1(data).hexdigest()  # noqa: S324 - interoperability hash
    assert item["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324
    assert item["filename"] == "disk image.dd"
    assert set(item) == {"id", "sha256", "sha1", "md5", "size", "filename", "media_type"}

    got = analyst.get(f"/api/v1/evidence/{item['id']}/content?purpose=triage")
    assert got.status_code == 200
    assert got.get_data() == data
    assert got.headers["Content-Length"] == str(size)
    assert got.headers["X-Evidence-SHA256"] == item["sha256"]
    assert "filename*=UTF-8''disk%20image.dd" in got.headers["Content-Disposition"]

    # Stored encrypted under an opaque name: the plaintext is nowhere in the store.
    files = stored_files(settings)
    assert len(files) == 1
    assert "disk" not in files[0]
    if size >= 16:
        assert data[:16] not in (settings.evidence_dir / files[0]).read_bytes()


def test_metadata_media_type_and_custody(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    item = upload(analyst, case["id"], pdf, "../../etc/Отчёт\u202egpj.exe", source="mail server",
                  collected_at="2026-11-20T10:00:00").get_json()
    assert item["media_type"] == "application/pdf"  # from the content, not the name or the client
    assert item["filename"] == "Отчётgpj.exe"
    full = analyst.get(f"/api/v1/evidence/{item['id']}").get_json()
    assert full["source"] == "mail server"
    assert full["collected_at"].startswith("2026-11-20T10:00:00")
    assert full["state"] == "active"
    assert full["custodian"] == analyst.user.username
    assert full["integrity"] == "unverified"

    analyst.get(f"/api/v1/evidence/{item['id']}/content?purpose=write the report")
    custody = analyst.get(f"/api/v1/evidence/{item['id']}/custody").get_json()
    assert custody["chain_valid"] is True
    assert [e["kind"] for e in custody["events"]] == ["acquired", "received", "downloaded"]
    assert custody["events"][0]["details"]["source"] == "mail server"
    assert custody["events"][2]["details"]["purpose"] == "write the report"
    assert custody["events"][2]["actor"] == analyst.user.username
    assert custody["events"][1]["prev_hash"] == custody["events"][0]["hash"]

    listing = analyst.get(f"/api/v1/cases/{case['id']}/evidence").get_json()
    assert listing["total"] == 1
    assert listing["items"][0]["chain_valid"] is True


def test_custody_actions_and_audit(api, open_case, make_user):
    analyst, manager, auditor = api("analyst"), api("manager"), api("auditor")
    make_user("analyst", "bob")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"pcap bytes").get_json()
    url = f"/api/v1/evidence/{item['id']}"

    moved = analyst.post(f"{url}/transfer", json={"to": "bob", "reason": "night shift takes over"})
    assert moved.status_code == 200
    assert moved.get_json()["custodian"] == "bob"
    unknown = analyst.post(f"{url}/transfer", json={"to": "nobody", "reason": "x" * 5})
    assert unknown.get_json()["error"]["field"] == "to"
    assert analyst.post(f"{url}/seal", json={"reason": "court hold"}).get_json()["state"] == "sealed"
    sealed = analyst.get(f"{url}/content?purpose=look")
    assert sealed.status_code == 409
    assert analyst.post(f"{url}/release", json={"reason": "hold lifted"}).get_json()["state"] == "active"
    assert analyst.post(f"{url}/dispose", json={"reason": "retention ended"}).status_code == 403
    assert auditor.post(f"{url}/seal", json={"reason": "court hold"}).status_code == 403
    assert manager.post(f"{url}/dispose", json={"reason": "x"}).get_json()["error"]["field"] == "reason"

    disposed = manager.post(f"{url}/dispose", json={"reason": "retention period ended"})
    assert disposed.status_code == 200
    assert disposed.get_json()["state"] == "disposed"
    assert disposed.get_json()["has_content"] is False
    assert analyst.get(f"{url}/content?purpose=look").status_code == 409
    assert manager.post(f"{url}/verify").status_code == 409
    custody = auditor.get(f"{url}/custody").get_json()
    assert custody["chain_valid"] is True
    assert [e["kind"] for e in custody["events"]] == ["acquired", "received", "transferred", "sealed", "released",
                                                       "disposed"]
    assert custody["events"][2]["details"] == {"from": analyst.user.username, "to": "bob",
                                               "reason": "night shift takes over"}

    actions = [e["action"] for e in auditor.get("/api/v1/audit?object_type=evidence&per_page=50")
               .get_json()["items"]]
    for kind in ("acquired", "received", "transferred", "sealed", "released", "disposed"):
        assert f"evidence.{kind}" in actions


def test_disposal_destroys_the_content_and_keeps_the_record(api, open_case, settings):
    analyst, manager = api("analyst"), api("manager")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"secret").get_json()
    assert len(stored_files(settings)) == 1
    manager.post(f"/api/v1/evidence/{item['id']}/dispose", json={"reason": "retention period ended"})
    assert stored_files(settings) == []
    kept = manager.get(f"/api/v1/evidence/{item['id']}").get_json()
    assert kept["sha256"] == item["sha256"]
    assert kept["disposed_at"] is not None


def test_sealed_evidence_cannot_be_disposed_of_until_released(api, open_case, settings):
    analyst, manager = api("analyst"), api("manager")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"held for court").get_json()
    url = f"/api/v1/evidence/{item['id']}"
    assert analyst.post(f"{url}/seal", json={"reason": "legal hold for the lawsuit"}).status_code == 200
    held = manager.post(f"{url}/dispose", json={"reason": "retention period ended"})
    assert held.status_code == 409
    assert held.get_json()["error"]["field"] == "id"
    assert "sealed (legal hold)" in held.get_json()["error"]["message"]
    assert "release it first" in held.get_json()["error"]["message"]
    kept = manager.get(url).get_json()
    assert (kept["state"], kept["has_content"], kept["disposed_at"]) == ("sealed", True, None)
    assert len(stored_files(settings)) == 1
    assert [e["kind"] for e in manager.get(f"{url}/custody").get_json()["events"]][-1] == "sealed"
    assert manager.post(f"{url}/release", json={"reason": "the hold was lifted"}).status_code == 200
    assert manager.post(f"{url}/dispose", json={"reason": "retention period ended"}).status_code == 200
    assert stored_files(settings) == []


def test_role_rules(api, open_case, make_app, app):
    owner = api("analyst")
    case = open_case(owner)
    restricted = open_case(owner, restricted=True)
    item = upload(owner, case["id"], b"log line\n").get_json()
    hidden = upload(owner, restricted["id"], b"insider\n").get_json()
    auditor, outsider, admin = api("auditor"), api("analyst"), api("admin")

    refused = upload(auditor, case["id"], b"x")
    assert refused.status_code == 403
    assert auditor.get(f"/api/v1/evidence/{item['id']}/content?purpose=audit").status_code == 403
    verified = auditor.post(f"/api/v1/evidence/{item['id']}/verify")
    assert verified.status_code == 200
    assert verified.get_json()["ok"] is True
    assert auditor.get(f"/api/v1/evidence/{hidden['id']}/custody").status_code == 200

    for url in (f"/api/v1/evidence/{hidden['id']}", f"/api/v1/evidence/{hidden['id']}/custody",
                f"/api/v1/evidence/{hidden['id']}/content", f"/api/v1/cases/{restricted['id']}/evidence"):
        assert outsider.get(url).status_code == 404, url
    assert outsider.post(f"/api/v1/evidence/{hidden['id']}/verify").status_code == 404
    assert upload(outsider, restricted["id"], b"x").status_code == 404
    assert admin.get(f"/api/v1/evidence/{item['id']}").status_code == 404


def test_admin_lets_auditors_download(api, open_case, run_cli):
    owner = api("analyst")
    item = upload(owner, open_case(owner)["id"], b"log line\n").get_json()
    auditor = api("auditor")
    assert auditor.get(f"/api/v1/evidence/{item['id']}/content").status_code == 403
    result = run_cli("evidence", "settings", "--auditor-can-download", "yes")
    assert result.exit_code == 0, result.output
    assert "auditor_can_download: yes" in result.output
    assert auditor.get(f"/api/v1/evidence/{item['id']}/content").get_data() == b"log line\n"


@pytest.mark.parametrize(("fields", "field"), [
    ({"collected_at": "yesterday"}, "collected_at"),
    ({"source": "two\nlines"}, "source"),
    ({"collected_by": "x" * 201}, "collected_by"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_fields_leave_nothing(api, open_case, settings, fields, field):
    analyst = api("analyst")
    case = open_case(analyst)
    response = upload(analyst, case["id"], os.urandom(100_000), **fields)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert stored_files(settings) == []
    assert analyst.get(f"/api/v1/cases/{case['id']}/evidence").get_json()["total"] == 0


def test_bad_bodies(api, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    url = f"/api/v1/cases/{case['id']}/evidence"
    no_file = analyst.post(url, content_type="multipart/form-data", data={"description": "x"})
    assert no_file.status_code == 422
    assert no_file.get_json()["error"]["field"] == "file"
    as_json = analyst.post(url, json={"file": "x"})
    assert as_json.status_code == 400
    assert as_json.get_json()["error"]["field"] == "file"
    broken = analyst.post(url, data=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
                          content_type="multipart/form-data; boundary=xyz")
    assert broken.status_code == 400
    two = analyst.post(url, content_type="multipart/form-data", data={"file": [(io.BytesIO(b"a"), "a"),
                                                                            (io.BytesIO(b"b"), "b")]})
    assert two.status_code == 422
    assert stored_files(settings) == []


def test_too_large_leaves_nothing(api, open_case, make_app, settings):
    app = make_app(max_upload_bytes=100_000)
    from tests.conftest import ApiClient  # the api fixture is bound to the default app

    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    case = open_case(client)
    ok = upload(client, case["id"], os.urandom(100_000))
    assert ok.status_code == 201
    # The declared length is within the form allowance, so the limit is hit while streaming.
    over = upload(client, case["id"], os.urandom(100_001))
    assert over.status_code == 413
    assert over.get_json()["error"]["field"] == "file"
    # A declared length far beyond the limit is refused before reading.
    huge = upload(client, case["id"], os.urandom(3_000_000))
    assert huge.status_code == 413
    assert len(stored_files(settings)) == 1
    assert client.get(f"/api/v1/cases/{case['id']}/evidence").get_json()["total"] == 1


def test_openapi_lists_the_evidence_endpoints(api):
    paths = api("analyst").get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/cases/{case_id}/evidence"]
    assert "get" in paths["/api/v1/evidence/{evidence_id}/custody"]
