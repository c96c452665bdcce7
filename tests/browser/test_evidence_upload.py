"""A real browser uploads several files to a case's evidence tab: chosen and dropped files wait in a
queue while the analyst fills in where they come from, then go on "Upload" with a progress bar per file,
and the items appear in the list with their SHA-256 and provenance, under the strict CSP."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
from playwright.sync_api import Page, expect

from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from tests.browser.test_sign_in_and_tokens import watch_console
from tests.conftest import PASSWORD, serving

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

    send = page.get_by_test_id("evidence-send")
    expect(send).to_be_disabled()
    page.get_by_test_id("evidence-file-input").set_input_files(paths)
    # A dropped file joins the queue as well; nothing is sent before "Upload".
    dropped = page.evaluate_handle("""() => { const dt = new DataTransfer();
        dt.items.add(new File(["dropped by the analyst\\n"], "drop.txt", {type: "text/plain"})); return dt; }""")
    page.dispatch_event("#evidence-drop", "drop", {"dataTransfer": dropped})
    uploads = page.get_by_test_id("upload-item")
    expect(uploads).to_have_count(3)
    for row in (uploads.nth(0), uploads.nth(1), uploads.nth(2)):
        expect(row).to_have_attribute("data-state", "queued")
        expect(row.get_by_test_id("upload-status")).to_contain_text("ready")
    expect(page.get_by_test_id("evidence-hint")).to_have_text("3 files ready to upload.")
    uploads.filter(has_text="notes.txt").get_by_test_id("upload-remove").click()
    expect(uploads).to_have_count(2)

    provenance = page.get_by_test_id("evidence-provenance")
    provenance.get_by_label("Collected by").fill("erin")
    provenance.get_by_label("Source (device or location)").fill("laptop-7")
    provenance.get_by_label("Acquisition method (tool or method)").fill("winpmem 4.0")
    expect(page.get_by_test_id("evidence-empty")).to_be_visible()  # still nothing sent
    send.click()
    for row in (uploads.nth(0), uploads.nth(1)):
        expect(row.get_by_test_id("upload-status")).to_contain_text("stored, SHA-256", timeout=30_000)
        expect(row.get_by_test_id("upload-progress")).to_have_attribute("value", "100")
    # The page reloads to show what the server recorded.
    rows = page.get_by_test_id("evidence-row")
    expect(rows).to_have_count(2, timeout=15_000)
    sent = {"memory.raw": files["memory.raw"], "drop.txt": b"dropped by the analyst\n"}
    for name, data in sent.items():
        row = page.locator(f'[data-testid="evidence-row"][data-filename="{name}"]')
        expect(row).to_contain_text(hashlib.sha256(data).hexdigest())
    page.locator('[data-testid="evidence-row"][data-filename="drop.txt"] a').click()
    expect(page.locator("table.evidence-facts")).to_contain_text("by erin, —, from laptop-7, using winpmem 4.0")
    assert problems == []


class StalledUplink:
    """WSGI middleware standing in for a slow network: the request body of an evidence upload stops
    arriving after its first 256 KiB until `resume` is set. (Chrome's own upload throttling does not
    hold back request bodies reliably, so the upload could finish before the analyst cancels it.)"""

    def __init__(self, app) -> None:
        self.app = app
        self.resume = threading.Event()

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/evidence/upload"):
            environ["wsgi.input"] = _StallingReader(environ["wsgi.input"], 256 * 1024, self.resume)
        return self.app(environ, start_response)


class _StallingReader(io.RawIOBase):
    def __init__(self, stream, stall_after: int, resume: threading.Event) -> None:
        self.stream, self.left, self.resume = stream, stall_after, resume

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            self.resume.wait(timeout=60)
        view = memoryview(buffer)
        if self.left > 0:
            view = view[:self.left]
        data = self.stream.read(len(view))
        view[:len(data)] = data
        self.left -= len(data)
        return len(data)


def test_cancelling_an_upload_keeps_nothing(page: Page, app, make_user, api, instance_dir,
                                            tmp_path, settings) -> None:
    Keyring.create(instance_dir / KEYRING_FILE)
    make_user("analyst", "finn")
    case = api("analyst").post("/api/v1/cases", json={
        "title": "Disk image from a kiosk", "category": "malicious-code", "impact": "low", "urgency": "low"}).get_json()
    # Larger than what the loopback socket buffers hold while the server is not reading.
    image = tmp_path / "kiosk.dd"
    image.write_bytes(os.urandom(64 * 1024 * 1024))
    uplink = StalledUplink(app)

    with serving(uplink) as live_server:
        page.goto(f"{live_server}/login")
        page.get_by_label("Username").fill("finn")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{live_server}/cases/{case['id']}/evidence")
        page.get_by_test_id("evidence-file-input").set_input_files(str(image))
        page.get_by_test_id("evidence-send").click()
        upload = page.get_by_test_id("upload-item")
        expect(upload.get_by_test_id("upload-status")).to_contain_text("%")
        upload.get_by_test_id("upload-cancel").click()
        expect(upload.get_by_test_id("upload-status")).to_contain_text("cancelled")
        expect(upload).to_have_attribute("data-state", "cancelled")

        # The network comes back: the server reads what was in flight, finds the body cut short,
        # and keeps neither a record nor a file.
        uplink.resume.set()
        for _ in range(100):
            if not (settings.evidence_dir.exists() and os.listdir(settings.evidence_dir)):
                break
            page.wait_for_timeout(100)
        assert not settings.evidence_dir.exists() or os.listdir(settings.evidence_dir) == []
        page.goto(f"{live_server}/cases/{case['id']}/evidence")
        expect(page.get_by_test_id("evidence-empty")).to_be_visible()
