"""Stored values shown as people read them: enum labels, file sizes, plurals, timeline changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from casemgr.filters import change, filesize, label, plural, words
from tests.evidence.conftest import multipart

TEMPLATES = Path(__file__).resolve().parent.parent / "casemgr" / "templates"


def text_of(html: str) -> str:
    """What a reader sees: the page without tags, attributes or scripts."""
    html = re.sub(r"(?s)<(script|style|title)\b.*?</\1>", " ", html)
    html = re.sub(r"</?(strong|em|code|span|a|time)\b[^>]*>", "", html)  # inline: no space of their own
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0 bytes"), (1, "1 byte"), (1000, "1,000 bytes"), (1536, "1.5 KiB"), (52428800, "50 MiB"),
    (5 * 1024**3, "5 GiB"),
])
def test_sizes_read_in_units_with_the_exact_count_in_a_title(value, shown):
    html = str(filesize(value))
    assert text_of(html) == shown
    assert f'title="{value:,} byte' in html


def test_words_for_values_counts_and_changes():
    assert (label("user_report"), label("false_positive"), label(None)) == ("user report", "false positive", "—")
    assert (plural(1, "entry", "entries"), plural(2, "entry", "entries"), plural(0, "case")) == (
        "1 entry", "2 entries", "0 cases")
    assert text_of(str(change("restricted", [None, False]))) == "restricted: set to no"
    assert text_of(str(change("owner", ["ann", "bob"]))) == "owner: ann → bob"
    assert text_of(str(change("owner", ["ann", None]))) == "owner: cleared (was ann)"
    assert text_of(str(change("title", ["Old", "x" * 200]))) == "title: changed"
    assert "<script>" not in str(change("<script>", [None, "<script>"]))
    assert text_of(str(change("acknowledged_at", [None, "2026-12-01T12:29:11.345451+00:00"]))) == (
        "acknowledged at: set to 2026-12-01 12:29 UTC")
    assert text_of(str(change("occurred_at", ["2026-11-30T23:10:00+01:00", "2026-11-30T22:15:00Z"]))) == (
        "occurred at: 2026-11-30 22:10 UTC → 2026-11-30 22:15 UTC")
    # text that only looks like a date stays as typed
    assert text_of(str(change("tags", [None, ["2026-12-01"]]))) == "tags: set to 2026-12-01"


def test_one_wording_for_every_stored_value():
    """The timeline's changes and the audit log's summaries both read values through `words`."""
    assert words("user_report", field="source") == "user report"  # a code: its label
    assert words("ann_smith", field="owner") == "ann_smith"  # text: as typed
    assert text_of(str(change("owner", [None, "ann_smith"]))) == "owner: set to ann_smith"
    assert text_of(str(change("resolution", [None, "false_positive"]))) == "resolution: set to false positive"
    assert (words(None), words(""), words([]), words(True), words(False)) == ("—", "—", "—", "yes", "no")
    assert words(["a", "b"]) == "a, b"
    assert words({"tlp": "amber", "time_reason": "late"}) == "TLP: amber; time reason: late"
    moment = "2026-12-01T12:29:11.345451+00:00"
    assert (words(moment), words(moment, seconds=True)) == ("2026-12-01 12:29 UTC", "2026-12-01 12:29:11 UTC")
    assert (words(1536), words(1536, field="size"), words(1, field="size")) == ("1536", "1.5 KiB (1,536 bytes)",
                                                                              "1 byte")


@pytest.fixture
def phishing_case(api, open_case, instance_dir):
    Keyring.create(instance_dir / KEYRING_FILE)
    analyst = api("analyst", "ann")
    case = open_case(analyst, title="Phishing wave", source="user_report")
    body, content_type = multipart(b"x" * 1536, "mail.eml")
    item = analyst.post(f"/api/v1/cases/{case['id']}/evidence", data=body, content_type=content_type).get_json()
    return case, item


def test_the_case_pages_show_words_not_stored_values(phishing_case, login):
    case, item = phishing_case
    web = login("analyst")
    overview = text_of(web.get(f"/cases/{case['id']}").get_data(as_text=True))
    assert "user report" in overview
    assert "user_report" not in overview
    timeline = text_of(web.get(f"/cases/{case['id']}/timeline").get_data(as_text=True))
    assert "restricted: set to no" in timeline
    assert "→ False" not in timeline
    assert "— →" not in timeline
    assert re.search(r"\(\d+ entr(y|ies), in incident order\)", timeline)
    assert "(1 entries" not in timeline
    evidence_page = web.get(f"/evidence/{item['id']}").get_data(as_text=True)
    assert "1.5 KiB" in text_of(evidence_page)
    assert 'title="1,536 bytes"' in evidence_page
    assert "1.5 KiB" in text_of(web.get(f"/cases/{case['id']}/evidence").get_data(as_text=True))


def test_the_case_list_counts_in_words(phishing_case, login):
    page = text_of(login("analyst").get("/cases").get_data(as_text=True))
    assert "1 case matches." in page


def test_select_options_show_labels_and_send_values(login):
    page = login("analyst").get("/cases/new").get_data(as_text=True)
    assert '<option value="user_report">user report</option>' in page


def test_no_template_shows_a_raw_enum_value_or_count():
    """One filter per kind, used by every template: a new `{{ x.value }}` in text or a `(s)` plural fails."""
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            # `.value` inside an attribute (value="", class, data-*) is a machine value; in text it is raw.
            text_only = re.sub(r'[\w-]+="[^"]*"', "", line)
            if re.search(r"\{\{ \w+(\.\w+)+\.value \}\}", text_only) or "(s)" in text_only:
                offenders.append(f"{template.relative_to(TEMPLATES)}:{number}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)
