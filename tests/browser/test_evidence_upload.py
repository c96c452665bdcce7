"""A real browser uploads several files to a case's evidence tab: a progress bar per file, then the
items appear in the list with their SHA-256, under the strict CSP."""

from __future__ import annotations

import hashlib
import os

import pytest
from playwright.sync_api import Page, expect

from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from tests.browser.test_sign_in_and_tokens import watch_console
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_upload_several_files_with_progress(page: Page, live_server: str, make_user, api, instance_dir,
                                            tmp_path) -> None:
    Keyring.create(instance_dir / KEYRING_FILE)
    make_user("analyst", "erin")
    case = api("analyst").post("/api/v1/cases", json={
        "title": "Malware on a laptop", "category": "malicious-code", "impact": "high", "urgency": "high"}).get_json()
    files = {"memory.raw": os.urandom(6 * 1024 * 1024), "notes.txt": b"first seen 10:02\n"}
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    problems = watch_console(page)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/cases/{case['id']}/evidence")
    expect(page.get_by_test_id("evidence-empty")).to_be_visible()

    page.get_by_test_id("evidence-file-input").set_input_files(paths)
    uploads = page.get_by_test_id("upload-item")
    expect(uploads).to_have_count(2)
    for row in (uploads.nth(0), uploads.nth(1)):
        expect(row.get_by_test_id("upload-status")).to_contain_text("stored, SHA-256", timeout=30_000)
        expect(row.get_by_test_id("upload-progress")).to_have_attribute("value", "100")
    # The page reloads to show what the server recorded.
    rows = page.get_by_test_id("evidence-row")
    expect(rows).to_have_count(2, timeout=15_000)
    for name, data in files.items():
        row = page.locator(f'[data-testid="evidence-row"][data-filename="{name}"]')
        expect(row).to_contain_text(hashlib.sha256(data).hexdigest())
    assert problems == []


def test_cancelling_an_upload_keeps_nothing(page: Page, live_server: str, make_user, api, instance_dir,
                                            tmp_path, settings) -> None:
    Keyring.create(instance_dir / KEYRING_FILE)
    make_user("analyst", "finn")
    case = api("analyst").post("/api/v1/cases", json={
        "title": "Disk image from a kiosk", "category": "malicious-code", "impact": "low", "urgency": "low"}).get_json()
    image = tmp_path / "kiosk.dd"
    image.write_bytes(os.urandom(4 * 1024 * 1024))

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("finn")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/cases/{case['id']}/evidence")
    # A slow uplink (64 KiB/s) so that the upload is still running when the analyst cancels it.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": 64 * 1024})
    page.get_by_test_id("evidence-file-input").set_input_files(str(image))
    upload = page.get_by_test_id("upload-item")
    expect(upload.get_by_test_id("upload-status")).to_contain_text("%")
    upload.get_by_test_id("upload-cancel").click()
    expect(upload.get_by_test_id("upload-status")).to_contain_text("cancelled")
    expect(upload).to_have_attribute("data-state", "cancelled")

    # The server notices the broken upload and keeps neither a record nor a file.
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    page.goto(f"{live_server}/cases/{case['id']}/evidence")
    expect(page.get_by_test_id("evidence-empty")).to_be_visible()
    for _ in range(100):
        if not (settings.evidence_dir.exists() and os.listdir(settings.evidence_dir)):
            break
        page.wait_for_timeout(100)
    assert not settings.evidence_dir.exists() or os.listdir(settings.evidence_dir) == []
