"""Nothing pasted for extraction vanishes: URLs, e-mail addresses and domains under a reserved or unknown top-level
domain (which ioc-finder drops) are listed on the review page with the reason, unticked, for the analyst to tick."""

from __future__ import annotations

import html
import json
import re

from tests.forms import form_on, forms_of

PHISH = """\
From: billing[@]evil[.]example
Please log in at hxxp://evil[.]example/login to keep your mailbox.
Images from hxxps://collect.evil[.]example/track?id=9 and the form posts to bad-portal[.]zzzunknown.
Attachment invoice.pdf, SHA-256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
"""
FLAGGED = {
    "http://evil.example/login": "reserved top-level domain .example",
    "https://collect.evil.example/track?id=9": "reserved top-level domain .example",
    "billing@evil.example": "reserved top-level domain .example",
    "evil.example": "reserved top-level domain .example",
    "collect.evil.example": "reserved top-level domain .example",
    "bad-portal.zzzunknown": "unknown top-level domain .zzzunknown",
}
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def review_rows(page: str) -> dict[str, tuple[bool, str]]:
    """The review page's rows: value -> (ticked, the text of its note cell)."""
    rows = {}
    for row in re.findall(r'<tr data-testid="candidate">(.*?)</tr>', page, re.S):
        box = re.search(r'<input type="checkbox" name="item" value="([^"]+)"[^>]*>', row)
        assert box is not None
        value = json.loads(html.unescape(box.group(1)))["value"]
        note = re.sub(r"<[^>]+>", " ", row.rsplit("<td>", 1)[1])
        rows[value] = (" checked" in box.group(0), " ".join(html.unescape(note).split()))
    return rows


def test_the_review_page_lists_values_the_finder_drops_with_the_reason_unticked(api, login, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    form = form_on(web, f"/cases/{case['id']}/indicators", action="/indicators/extract")
    response = form.submit(web, {"text": PHISH})
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    rows = review_rows(page)
    for value, reason in FLAGGED.items():
        assert value in rows, (value, sorted(rows))
        ticked, note = rows[value]
        assert not ticked, value
        assert f"check before adding: {reason}" in note, (value, note)
    assert rows[EMPTY_SHA256] == (False, "known-benign: well-known benign hash: the empty file (0 bytes)")
    assert "invoice.pdf" not in rows  # a file name written plainly is not a domain

    # The analyst ticks two of the flagged values and adds them like any other.
    review = next(f for f in forms_of(page, f"/cases/{case['id']}/indicators/extract")
                  if f.attrs.get("data-testid") == "candidate-review")
    wanted = {"http://evil.example/login", "billing@evil.example"}
    for field in review.fields:
        if field.name == "item":
            field.checked = json.loads(field.value)["value"] in wanted
    added = review.submit(web)
    assert added.status_code == 302, added.get_data(as_text=True)
    listing = web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert "http://evil.example/login" in listing
    assert "billing@evil.example" in listing
    assert "collect.evil.example" not in listing


def test_the_api_extraction_gives_the_caution_of_each_dropped_value(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    response = analyst.post(f"/api/v1/cases/{case['id']}/indicators/extract", json={"text": PHISH})
    assert response.status_code == 200, response.get_json()
    items = {item["value"]: item for item in response.get_json()["items"]}
    assert {v: items[v]["caution"] for v in FLAGGED} == FLAGGED
    assert items[EMPTY_SHA256]["caution"] is None
    assert items[EMPTY_SHA256]["known_benign"] == "well-known benign hash: the empty file (0 bytes)"
