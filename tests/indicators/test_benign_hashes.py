"""Well-known benign hashes (the empty file's and the like, listed in casemgr/indicators/data/benign_hashes.json)
are flagged known-benign wherever an indicator is shown, as private address ranges are."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest

from tests.indicators.conftest import add

EMPTY = "the empty file (0 bytes)"


@pytest.mark.parametrize("digest", [
    hashlib.md5(b"").hexdigest(), hashlib.sha1(b"").hexdigest(), hashlib.sha256(b"").hexdigest().upper(),
    hashlib.sha512(b"").hexdigest(),
])
def test_the_empty_files_hash_is_flagged_known_benign(api, login, open_case, digest):
    analyst = api("analyst")
    case = open_case(analyst)
    kind = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}[len(digest)]
    response = add(analyst, case, kind, digest)
    assert response.status_code == 201
    assert response.get_json()["known_benign"] == f"well-known benign hash: {EMPTY}"
    listed = analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["items"]
    assert [i["known_benign"] for i in listed] == [f"well-known benign hash: {EMPTY}"]
    tab = login("auditor").get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert f'data-testid="known-benign" title="well-known benign hash: {EMPTY}"' in tab
    other = add(analyst, case, kind, "a" * len(digest))
    assert other.get_json()["known_benign"] is None


def test_the_review_page_flags_the_empty_files_hash_and_leaves_it_unticked(api, login, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    page = web.post(f"/cases/{case['id']}/indicators/extract",
                    {"text": f"dropped file, SHA-1 {hashlib.sha1(b'').hexdigest()}"}).get_data(as_text=True)
    assert f"known-benign: well-known benign hash: {EMPTY}" in page
    assert " checked" not in page.split('name="item"', 1)[1].split(">", 1)[0]


def test_the_benign_hash_list_holds_the_hashes_of_the_content_it_describes():
    text = resources.files("casemgr.indicators").joinpath("data/benign_hashes.json").read_text(encoding="utf-8")
    entries = json.loads(text)["hashes"]
    assert entries[0]["description"] == EMPTY
    for entry in entries:
        content = bytes.fromhex(entry["content_hex"]) * entry["repeat"]
        for name in ("md5", "sha1", "sha256", "sha512"):
            assert entry[name] == hashlib.new(name, content).hexdigest(), (entry["description"], name)
