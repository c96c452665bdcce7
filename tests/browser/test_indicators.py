"""A real browser works a case's indicators: values found in pasted text and reviewed, a STIX bundle
checked then imported, the case exported as STIX, and a value searched across cases."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import stix2
from playwright.sync_api import Page, expect

from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console
from tests.indicators.conftest import CASE, bundle_of, indicator

pytestmark = pytest.mark.browser

ALERT = """Sandbox verdict: the attachment beacons to hxxps://login.acme-helpdesk[.]net/gate.php
and to 185.220.101[.]45, then scans 10.20.30.40 on the LAN."""


def test_analyst_reviews_found_values_imports_a_bundle_exports_and_searches(
        page: Page, live_server: str, make_user, api, tmp_path: Path) -> None:
    make_user("analyst", "fatima")
    other = api("analyst")
    earlier = other.post("/api/v1/cases", json={**CASE, "title": "Earlier phishing wave"}).get_json()
    other.post(f"/api/v1/cases/{earlier['id']}/indicators", json={"type": "ipv4-addr", "value": "185.220.101.45"})
    case = other.post("/api/v1/cases", json={**CASE, "title": "Credential phishing"}).get_json()
    problems = watch_console(page)
    sign_in(page, live_server, "fatima")
    page.goto(f"{live_server}/cases/{case['id']}/indicators")

    # Values found in pasted text, defanged forms included; the private address is flagged, not ticked.
    page.get_by_label("Alert, email or report text").fill(ALERT)
    page.get_by_role("button", name="Find values to review").click()
    review = page.get_by_test_id("candidate-review")
    expect(review.get_by_label("add https://login.acme-helpdesk.net/gate.php")).to_be_checked()
    expect(review.get_by_label("add 185.220.101.45")).to_be_checked()
    expect(review.get_by_label("add 10.20.30.40")).not_to_be_checked()
    expect(review.get_by_test_id("candidate").filter(has_text="10.20.30.40")).to_contain_text("known-benign")
    page.get_by_role("button", name="Add the ticked values").click()
    rows = page.get_by_test_id("indicator-row")
    expect(rows.filter(has_text="https://login.acme-helpdesk.net/gate.php")).to_have_count(1)
    expect(rows.filter(has_text="10.20.30.40")).to_have_count(0)
    expect(rows.filter(has_text="185.220.101.45").get_by_test_id("also-seen-in")).to_have_text(earlier["reference"])

    # A bundle with one broken object: a summary first, nothing stored until confirmed.
    network = indicator("[ipv4-addr:value = '198.51.100.0/24']", name="C2 range")
    broken = indicator("[ipv4-addr:value = '198.51.100.1'")
    relationship = {"type": "relationship", "spec_version": "2.1", "id": f"relationship--{uuid.uuid4()}",
                    "created": network["created"], "modified": network["modified"], "relationship_type": "related-to",
                    "source_ref": network["id"], "target_ref": network["id"]}
    bundle_file = tmp_path / "feed.json"
    bundle_file.write_text(json.dumps(bundle_of(network, broken, relationship)))
    page.get_by_label("Bundle file").set_input_files(bundle_file)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("3 objects in the bundle: 2 would be stored")
    expect(page.get_by_test_id("rejected")).to_contain_text(broken["id"])
    page.get_by_label("import the valid objects and leave the rejected ones out").check()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 2 object(s) (2 new)")
    expect(rows.filter(has_text="198.51.100.0/24")).to_have_count(1)
    expect(page.get_by_test_id("stix-types")).to_contain_text("relationship: 1")

    # The imported indicator carries no TLP marking: it shows the case's. Revoked from its page, with a reason,
    # it is struck through on the list and keeps its earlier version.
    imported = rows.filter(has_text="198.51.100.0/24")
    expect(imported.get_by_test_id("tlp")).to_have_text("TLP:AMBER")
    expect(imported.get_by_test_id("tlp-from-case")).to_have_text("from the case")
    imported.get_by_role("link", name="198.51.100.0/24").click()
    revoke = page.get_by_test_id("revoke-form")
    revoke.get_by_label("Reason").fill("the range is our partner's")
    revoke.get_by_role("button", name="Revoke").click()
    expect(page.get_by_test_id("revoked")).to_be_visible()
    expect(page.get_by_test_id("corrections")).to_contain_text("Reason: the range is our partner's")
    expect(page.get_by_text("Older versions (1)")).to_be_visible()
    page.goto(f"{live_server}/cases/{case['id']}/indicators")
    expect(rows.filter(has_text="198.51.100.0/24").get_by_test_id("revoked")).to_have_text("revoked")

    # The export is a STIX 2.1 bundle of what the case holds, with the case as an incident; nothing rejected.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export STIX 2.1 bundle").click()
    assert download.value.suggested_filename == f"{case['reference']}.stix.json"
    exported = json.loads(Path(download.value.path()).read_text())
    parsed = stix2.parse(exported, allow_custom=True)
    by_type: dict[str, list] = {}
    for obj in parsed.objects:
        by_type.setdefault(obj.type, []).append(obj)
    assert {network["id"], relationship["id"]} <= {o["id"] for o in exported["objects"]}
    assert broken["id"] not in {o["id"] for o in exported["objects"]}
    assert len(by_type["incident"]) == 1
    assert "[url:value = 'https://login.acme-helpdesk.net/gate.php']" in {i.pattern for i in by_type["indicator"]}

    # Search across cases: an address inside the imported network finds it.
    page.goto(f"{live_server}/indicators/search")
    page.get_by_label("Value").fill("198.51.100.77")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("search-total")).to_have_text("1 indicator in 1 case.")
    expect(page.get_by_test_id("search-results")).to_contain_text("198.51.100.0/24")
    expect(page.get_by_test_id("search-results")).to_contain_text(case["reference"])
    assert problems == []
