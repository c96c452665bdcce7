"""The case pages: list, create, case page, edit, actions, dashboard; bad input, roles and restricted cases."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from tests.cases.conftest import move

NEW = {"title": "Phishing wave against finance", "description": "Fake **invoice** mails.", "category": "fraud",
       "subcategory": "phishing", "impact": "high", "urgency": "medium", "tlp": "amber", "pap": "amber",
       "tags": "phishing, finance"}


def text(response: Any) -> str:
    """The page's visible text, roughly: tags removed, entities decoded, spaces collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def case_id(response: Any) -> int:
    match = re.search(r"/cases/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


@pytest.fixture
def sign_in(app: Any) -> Any:
    """sign_in(username) -> a WebClient signed in as an existing user."""
    from tests.conftest import WebClient

    def make(username: str) -> WebClient:
        client = WebClient(app.test_client())
        assert client.login(username).status_code == 302
        return client

    return make


def api_case(api_client: Any, case_id: int) -> dict[str, Any]:
    return api_client.get(f"/api/v1/cases/{case_id}").get_json()


# ---------------------------------------------------------------- create


def test_analyst_opens_a_case_through_the_form(login, api):
    web = login("analyst")
    assert "Open a case" in text(web.get("/cases/new"))
    created = web.post("/cases/new", NEW)
    assert created.status_code == 302
    page = web.get(f"/cases/{case_id(created)}")
    body = text(page)
    assert page.status_code == 200
    assert re.search(r"IR-\d{4}-0001", body)
    assert "Phishing wave against finance" in body
    assert "<strong>invoice</strong>" in page.get_data(as_text=True)  # Markdown rendered
    assert "P2" in body
    assert "TLP:AMBER" in body
    assert "Fraud / Phishing" in body
    assert "phishing" in body
    assert "finance" in body
    manager = api("manager")
    assert api_case(manager, case_id(created))["tags"] == ["finance", "phishing"]


@pytest.mark.parametrize(("field", "value", "status"), [
    ("title", "", 422),
    ("title", "x" * 201, 422),
    ("category", "no-such-category", 422),
    ("subcategory", "ransomware", 422),
    ("impact", "catastrophic", 422),
    ("tags", "Not A Tag!", 422),
    ("occurred_at", "yesterday", 422),
    ("owner", "nobody-here", 422),
])
def test_create_form_bad_input_names_the_field_and_writes_nothing(login, api, field, value, status):
    web = login("analyst")
    response = web.post("/cases/new", {**NEW, field: value})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert f'data-field="{field}' in html  # the error box names the field
    assert 'aria-invalid="true"' in html
    assert "Phishing wave against finance" in html or field == "title"  # what was typed is kept
    assert api("manager").get("/api/v1/cases").get_json()["total"] == 0


def test_create_form_needs_csrf(login, api):
    web = login("analyst")
    response = web.client.post("/cases/new", data=NEW)
    assert response.status_code == 400
    assert api("manager").get("/api/v1/cases").get_json()["total"] == 0


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_read_only_roles_cannot_open_cases(login, api, role):
    web = login(role)
    assert web.get("/cases/new").status_code == 403
    assert web.post("/cases/new", NEW).status_code == 403
    assert api("manager").get("/api/v1/cases").get_json()["total"] == 0


# ---------------------------------------------------------------- list


def test_list_filters_search_sort_and_pages(login, api, open_case):
    analyst = api("analyst")
    phish = open_case(analyst, title="Phishing mail to finance", tags=["phishing"], impact="high", urgency="high")
    ransom = open_case(analyst, title="Ransomware on file server", category="malicious-code",
                       subcategory="ransomware", impact="low", urgency="low", tlp="red")
    move(analyst, phish, "triage")
    web = login("analyst")

    def refs(url: str) -> list[str]:
        return re.findall(r'data-reference="([^"]+)"', web.get(url).get_data(as_text=True))

    assert len(refs("/cases")) == 2
    assert refs("/cases?status=triage") == [phish["reference"]]
    assert refs("/cases?status=triage&status=new&priority=P1") == [phish["reference"]]
    assert refs("/cases?category=malicious-code") == [ransom["reference"]]
    assert refs("/cases?category=fraud") == [phish["reference"]]
    assert refs("/cases?tag=phishing") == [phish["reference"]]
    assert refs("/cases?tlp=red") == [ransom["reference"]]
    assert refs("/cases?q=ransom") == [ransom["reference"]]
    assert refs("/cases?q=phishing") == [phish["reference"]]
    assert refs("/cases?state=closed") == []
    assert refs("/cases?owner=none&state=open") == refs("/cases")
    assert refs("/cases?sort=priority")[0] == phish["reference"]
    assert refs("/cases?sort=created") == list(reversed(refs("/cases?sort=-created")))
    today = phish["created_at"][:10]
    assert len(refs(f"/cases?since={today}&until={today}")) == 2  # until includes its day
    first = web.get("/cases?per_page=1&tlp=")
    assert "Page 1 of 2" in text(first)
    assert 'rel="next"' in first.get_data(as_text=True)
    assert len(refs("/cases?per_page=1&page=2")) == 1


@pytest.mark.parametrize(("query", "field"), [
    ("status=bogus", "status"), ("priority=P9", "priority"), ("since=not-a-date", "since"),
    ("sort=-evil", "sort"), ("page=0", "page"), ("state=maybe", "state"),
])
def test_list_bad_filter_names_the_field_and_shows_no_rows(login, api, open_case, query, field):
    open_case(api("analyst"))
    response = login("analyst").get(f"/cases?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'data-field="{field}' in html
    assert "data-reference=" not in html


# ---------------------------------------------------------------- case page and access


def test_restricted_case_is_404_to_outsiders_and_readable_by_members_managers_auditors(login, api, open_case,
                                                                                     sign_in):
    owner = api("analyst", "alice")
    case = open_case(owner, title="Insider data theft", restricted=True)
    outsider = login("analyst")
    for path in ("", "/timeline", "/edit", "/evidence"):
        assert outsider.get(f"/cases/{case['id']}{path}").status_code == 404
    for path in ("/notes", "/events", "/transition", "/escalate", "/links", "/priority", "/edit"):
        assert outsider.post(f"/cases/{case['id']}{path}", {"body": "x", "to": "triage"}).status_code == 404
    assert "Insider data theft" not in text(outsider.get("/cases"))
    assert "Insider data theft" not in text(outsider.get("/cases?q=insider"))
    assert "Insider data theft" not in text(outsider.get("/"))
    assert "0 cases match" in text(outsider.get("/cases"))
    for role in ("manager", "auditor"):
        assert "Insider data theft" in text(login(role).get(f"/cases/{case['id']}"))
    member = sign_in("alice")
    assert member.get(f"/cases/{case['id']}").status_code == 200


def test_auditor_reads_but_gets_no_forms_and_403_on_posts(login, api, open_case):
    case = open_case(api("analyst"))
    auditor = login("auditor")
    page = auditor.get(f"/cases/{case['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for form in ("/transition", "/escalate", "/links", "/priority", "/edit"):
        assert f"/cases/{case['id']}{form}" not in html
    timeline = auditor.get(f"/cases/{case['id']}/timeline").get_data(as_text=True)
    assert "/notes" not in timeline
    assert "/events" not in timeline
    assert auditor.get(f"/cases/{case['id']}/edit").status_code == 403
    for path, data in [("/notes", {"body": "hello"}), ("/transition", {"to": "triage"}),
                       ("/escalate", {"kind": "hierarchical", "reason": "x"}),
                       ("/events", {"occurred_at": "2026-01-01T09:00", "summary": "x"}),
                       ("/edit", {"version": case["version"], "title": "changed", "was.title": case["title"]})]:
        assert auditor.post(f"/cases/{case['id']}{path}", data).status_code == 403
    after = api("manager")
    assert api_case(after, case["id"])["version"] == case["version"]
    assert len(after.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]) == 1


def test_unknown_case_is_404(login):
    web = login("analyst")
    assert web.get("/cases/999999").status_code == 404
    assert web.post("/cases/999999/notes", {"body": "x"}).status_code == 404


def test_overview_shows_members_times_related_duplicate_and_escalation(login, api, open_case, make_team):
    analyst = api("analyst", "alice")
    survivor = open_case(analyst, title="Original phishing case")
    dup = open_case(analyst, title="Same phishing again")
    related = open_case(analyst, title="Related malware case")
    make_team("CERT tier 2")
    web = login("manager")
    assert web.post(f"/cases/{dup['id']}/links", {"case": survivor["id"], "kind": "duplicate_of"}).status_code == 302
    assert web.post(f"/cases/{survivor['id']}/links", {"case": related["id"]}).status_code == 302
    assert web.post(f"/cases/{survivor['id']}/escalate",
                    {"kind": "functional", "to_team": "CERT tier 2", "reason": "needs forensics"}).status_code == 302
    page = text(web.get(f"/cases/{survivor['id']}"))
    assert "Escalated (functional to team CERT tier 2)" in page
    assert "needs forensics" in page
    assert related["reference"] in page
    assert dup["reference"] in page
    assert "duplicated by" in page
    assert "alice" in page  # members
    dup_page = web.get(f"/cases/{dup['id']}")
    assert 'data-testid="duplicate-of"' in dup_page.get_data(as_text=True)
    assert "resolved" in text(dup_page)
    assert survivor["reference"] in text(dup_page)


# ---------------------------------------------------------------- edit and optimistic locking


def _edit_form(web: Any, cid: int) -> dict[str, Any]:
    """The edit form's fields as the browser would send them untouched."""
    html = web.get(f"/cases/{cid}/edit").get_data(as_text=True)
    data: dict[str, Any] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        if name != "csrf_token":
            data.setdefault(name, []).append(unescape(value))
    for name, value in re.findall(r'<input (?:type="\w+(?:-\w+)?" )?name="([^"]+)" value="([^"]*)"', html):
        data[name] = unescape(value)
    data["description"] = unescape(re.search(r'<textarea name="description"[^>]*>(.*?)</textarea>', html, re.S)
                                   .group(1))
    for name in ("category", "subcategory", "source", "impact", "urgency", "tlp", "pap", "owner"):
        select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
        chosen = re.search(r'<option value="([^"]*)" selected', select)
        data[name] = chosen.group(1) if chosen else ""
    for name in re.findall(r'<input type="checkbox" name="([^"]+)"[^>]* checked', html):
        data[name] = "on"  # what a browser sends for a ticked box without a value
    return data


def test_edit_changes_only_what_was_changed(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    form = _edit_form(web, case["id"])
    form["title"] = "Phishing wave against finance and HR"
    form["tags"] = "phishing, hr"
    response = web.post(f"/cases/{case['id']}/edit", form)
    assert response.status_code == 302, text(response)
    saved = api_case(api("manager"), case["id"])
    assert saved["title"] == "Phishing wave against finance and HR"
    assert saved["tags"] == ["hr", "phishing"]
    assert saved["version"] == case["version"] + 1
    timeline = text(web.get(f"/cases/{case['id']}/timeline"))
    assert "Changed tags, title" in timeline


def test_stale_edit_shows_conflict_with_current_version_and_does_not_overwrite(login, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    form = _edit_form(web, case["id"])
    other = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"], "title": "Theirs"})
    assert other.status_code == 200
    form["title"] = "Mine"
    response = web.post(f"/cases/{case['id']}/edit", form)
    assert response.status_code == 409
    body = text(response)
    current = other.get_json()["version"]
    assert f"now at version {current}" in body
    assert 'data-testid="conflict"' in response.get_data(as_text=True)
    assert "Theirs" in body
    assert "Mine" in body
    assert api_case(analyst, case["id"])["title"] == "Theirs"
    assert re.search(rf'name="version" value="{current}"', response.get_data(as_text=True))


def test_edit_bad_input_rerenders_with_field_and_writes_nothing(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    form = _edit_form(web, case["id"])
    form["title"] = ""
    response = web.post(f"/cases/{case['id']}/edit", form)
    assert response.status_code == 422
    assert 'data-field="title"' in response.get_data(as_text=True)
    form = _edit_form(web, case["id"])
    form["acknowledged_at"] = "2026-01-01T10:00"
    response = web.post(f"/cases/{case['id']}/edit", form)
    assert response.status_code == 422
    assert 'data-field="time_reason"' in response.get_data(as_text=True)
    assert api_case(api("manager"), case["id"])["version"] == case["version"]


# ---------------------------------------------------------------- actions


def test_transition_offers_only_allowed_states_with_their_fields(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    html = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    offered = re.findall(r'class="transition-form" data-to="(\w+)"', html)
    assert offered == ["triage", "investigating", "resolved"]
    assert web.post(f"/cases/{case['id']}/transition", {"to": "triage", "version": case["version"]}).status_code == 302
    html = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert re.findall(r'class="transition-form" data-to="(\w+)"', html) == ["investigating", "containment", "resolved"]
    assert 'name="resolution"' in html
    assert 'name="summary"' in html
    assert "Move to containment" in text(web.get(f"/cases/{case['id']}"))


def test_transition_errors_name_the_field_and_write_nothing(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    missing = web.post(f"/cases/{case['id']}/transition", {"to": "resolved", "resolution": "remediated"})
    assert missing.status_code == 422
    assert 'data-field="summary"' in missing.get_data(as_text=True)
    illegal = web.post(f"/cases/{case['id']}/transition", {"to": "closed"})
    assert illegal.status_code == 409
    assert "it can move to: triage, investigating, resolved" in text(illegal)
    stale = web.post(f"/cases/{case['id']}/transition", {"to": "triage", "version": case["version"] + 5})
    assert stale.status_code == 409
    assert f"now at version {case['version']}" in text(stale)
    bogus = web.post(f"/cases/{case['id']}/transition", {"to": "finished"})
    assert bogus.status_code == 422
    assert 'data-field="to"' in bogus.get_data(as_text=True)
    assert api_case(api("manager"), case["id"])["status"] == "new"


def test_closing_is_for_managers_only(login, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    move(analyst, case, "resolved", resolution="remediated", summary="Mail purged")
    web = login("analyst")
    html = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert 'data-to="closed"' not in html
    assert 'data-to="investigating"' in html
    assert web.post(f"/cases/{case['id']}/transition", {"to": "closed", "root_cause": "x"}).status_code == 403
    manager = login("manager")
    assert 'name="root_cause"' in manager.get(f"/cases/{case['id']}").get_data(as_text=True)
    no_cause = manager.post(f"/cases/{case['id']}/transition", {"to": "closed"})
    assert no_cause.status_code == 422
    assert 'data-field="root_cause"' in no_cause.get_data(as_text=True)
    done = manager.post(f"/cases/{case['id']}/transition", {"to": "closed", "root_cause": "Weak mail filter"})
    assert done.status_code == 302
    assert "Weak mail filter" in text(manager.get(f"/cases/{case['id']}"))


def test_escalation_raises_attention_on_case_and_dashboard(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    empty = web.post(f"/cases/{case['id']}/escalate", {"kind": "hierarchical", "reason": ""})
    assert empty.status_code == 422
    assert 'data-field="reason"' in empty.get_data(as_text=True)
    functional = web.post(f"/cases/{case['id']}/escalate", {"kind": "functional", "to_team": "x", "reason": "y"})
    assert functional.status_code == 403
    assert 'data-testid="escalation-alarm"' not in web.get(f"/cases/{case['id']}").get_data(as_text=True)
    ok = web.post(f"/cases/{case['id']}/escalate", {"kind": "hierarchical", "reason": "Data leaving the network"})
    assert ok.status_code == 302
    page = web.get(f"/cases/{case['id']}")
    assert 'data-testid="escalation-alarm"' in page.get_data(as_text=True)
    assert "Data leaving the network" in text(page)
    home = web.get("/").get_data(as_text=True)
    pending = home.split('data-testid="pending-escalations"')[1].split("</section>")[0]
    assert case["reference"] in pending
    assert "awaiting a manager" in pending  # analysts see it; a manager acknowledges it


def test_priority_override_needs_manager_and_reason(login, api, open_case):
    case = open_case(api("analyst"))  # medium/high: P2
    analyst = login("analyst")
    assert 'data-testid="priority-form"' not in analyst.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert analyst.post(f"/cases/{case['id']}/priority", {"priority_override": "P1", "priority_reason": "x",
                                                         "version": case["version"]}).status_code == 403
    manager = login("manager")
    no_reason = manager.post(f"/cases/{case['id']}/priority", {"priority_override": "P1", "version": case["version"]})
    assert no_reason.status_code == 422
    assert 'data-field="priority_reason"' in no_reason.get_data(as_text=True)
    bad = manager.post(f"/cases/{case['id']}/priority", {"priority_override": "P0", "priority_reason": "x",
                                                         "version": case["version"]})
    assert bad.status_code == 422
    assert 'data-field="priority_override"' in bad.get_data(as_text=True)
    done = manager.post(f"/cases/{case['id']}/priority", {"priority_override": "P1", "version": case["version"],
                                                          "priority_reason": "CEO mailbox involved"})
    assert done.status_code == 302
    page = text(manager.get(f"/cases/{case['id']}"))
    assert "P1 (overridden: CEO mailbox involved)" in page
    back = manager.post(f"/cases/{case['id']}/priority", {"priority_override": "", "version": case["version"] + 1})
    assert back.status_code == 302
    assert api_case(api("manager"), case["id"])["priority"] == "P2"


def test_link_bad_input(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    itself = web.post(f"/cases/{case['id']}/links", {"case": case["id"]})
    assert itself.status_code == 422
    assert 'data-field="case"' in itself.get_data(as_text=True)
    missing = web.post(f"/cases/{case['id']}/links", {"case": 99999})
    assert missing.status_code == 404
    assert "case 99999 does not exist" in text(missing)
    assert web.post(f"/cases/{case['id']}/links", {"case": "abc"}).status_code == 422


# ---------------------------------------------------------------- timeline


def test_timeline_notes_and_events_show_event_time_and_recorded_time(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    assert web.post(f"/cases/{case['id']}/notes", {"body": "Blocked the **sender** domain."}).status_code == 302
    event = web.post(f"/cases/{case['id']}/events",
                     {"occurred_at": "2020-03-01T09:12", "summary": "First phishing mail delivered"})
    assert event.status_code == 302
    page = web.get(f"/cases/{case['id']}/timeline")
    html, body = page.get_data(as_text=True), text(page)
    assert "<strong>sender</strong>" in html
    kinds = re.findall(r'data-testid="timeline-entry" data-kind="(\w+)"', html)
    assert kinds == ["event", "created", "note"]  # incident order: the event happened first
    assert "2020-03-01 09:12 UTC" in body  # when it happened
    row = re.search(r'data-kind="event">(.*?)</tr>', html, re.S).group(1)
    assert len(re.findall(r"<time ", row)) == 2  # and when it was recorded


@pytest.mark.parametrize(("path", "data", "field"), [
    ("/notes", {"body": ""}, "body"),
    ("/notes", {"body": "x" * 100_001}, "body"),
    ("/events", {"occurred_at": "", "summary": "x"}, "occurred_at"),
    ("/events", {"occurred_at": "2026-13-40T99:00", "summary": "x"}, "occurred_at"),
    ("/events", {"occurred_at": "2026-01-01T09:00", "summary": ""}, "summary"),
    ("/events", {"occurred_at": "2026-01-01T09:00", "summary": "two\nlines"}, "summary"),
])
def test_note_and_event_bad_input(login, api, open_case, path, data, field):
    case = open_case(api("analyst"))
    web = login("analyst")
    response = web.post(f"/cases/{case['id']}{path}", data)
    assert response.status_code == 422
    assert f'data-field="{field}"' in response.get_data(as_text=True)
    assert len(api("manager").get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]) == 1


# ---------------------------------------------------------------- dashboard


def test_dashboard_sections_and_counts_respect_access(login, api, open_case, sign_in):
    me = api("analyst", "alice")
    mine = open_case(me, title="My open case", owner="alice")
    open_case(me, title="Nobody owns this", impact="low", urgency="low")
    urgent = open_case(me, title="Critical outage", impact="high", urgency="high")
    secret = open_case(api("manager"), title="Secret restricted case", restricted=True, impact="high", urgency="high")
    home = sign_in("alice").get("/")
    html = home.get_data(as_text=True)

    def section(key: str) -> str:
        return re.search(rf'data-testid="dashboard-{key}"(.*?)</section>', html, re.S).group(1)

    assert mine["reference"] in section("mine")
    assert urgent["reference"] not in section("mine")
    assert 'data-testid="dashboard-urgent"' not in html  # analysts: their cases and the ones to pick up
    assert "Nobody owns this" in section("unassigned")
    assert "My open case" not in section("unassigned")
    assert secret["reference"] not in html
    assert re.search(r'data-state="new">.*?<strong>3</strong>', html, re.S)
    manager_home = login("manager").get("/").get_data(as_text=True)
    assert secret["reference"] in manager_home
    html = manager_home
    assert urgent["reference"] in section("urgent")
    assert "Nobody owns this" in section("queue")
    assert re.search(r'data-state="new">.*?<strong>4</strong>', manager_home, re.S)
    admin_home = login("admin").get("/").get_data(as_text=True)
    assert 'data-testid="dashboard"' not in admin_home
    assert "do not see case content" in admin_home
