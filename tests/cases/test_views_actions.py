"""The case page's overview: the facts first, then one compact bar of the actions the viewer may take in
the case's state (each opening its small form); a functional escalation says that it changes the team."""

from __future__ import annotations

import re
from typing import Any

from tests.cases.conftest import move
from tests.cases.test_views import text
from tests.forms import forms_of


def actions(page: Any) -> tuple[str, list[str]]:
    """The action bar's text and the testids/actions of its forms ('' when the page shows no bar)."""
    html = page.get_data(as_text=True)
    if 'data-testid="case-actions"' not in html:
        return "", []
    bar = html.split('data-testid="case-actions"', 1)[1].split("</section>", 1)[0]
    forms = forms_of(bar)
    return text_of(bar), [f.attrs.get("data-testid") or f.attrs.get("data-to", "") for f in forms]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_facts_come_first_and_each_role_sees_only_its_actions(login, api, open_case, make_team):
    make_team("SOC")
    case = open_case(api("analyst"), team="SOC")
    url = f"/cases/{case['id']}"

    analyst = login("analyst").get(url)
    html = analyst.get_data(as_text=True)
    # The description, resolution and related cases come first, the facts beside them, the actions after.
    assert html.index('data-testid="case-description"') < html.index('data-testid="related-cases"') \
        < html.index('data-testid="case-actions"')
    assert 'data-testid="case-facts"' not in html.split('data-testid="case-actions"', 1)[1].split("</section>")[0]
    assert 'class="contrast"' not in html  # no heavy black button any more
    bar, forms = actions(analyst)
    assert forms == ["triage", "investigating", "resolved", "escalate-form", "link-form"]
    assert "Edit" in bar
    assert "Resolve…" in bar
    assert "Escalate…" in bar
    assert "Priority…" not in bar
    assert 'value="functional"' not in html  # analysts escalate hierarchically only

    manager = login("manager").get(url)
    bar, forms = actions(manager)
    assert forms == ["triage", "investigating", "resolved", "escalate-form", "link-form", "priority-form"]
    assert 'value="functional"' in manager.get_data(as_text=True)

    auditor = login("auditor").get(url)
    assert actions(auditor) == ("", [])
    assert "Phishing wave against finance" in text(auditor)


def test_a_closed_case_offers_only_reopening_and_refuses_escalate_link_and_priority(login, api, open_case):
    analyst_api, manager_api = api("analyst"), api("manager")
    case, other = open_case(analyst_api), open_case(analyst_api, title="Another phishing case")
    move(analyst_api, case, "resolved", resolution="remediated", summary="Mails purged.")
    assert move(manager_api, case, "closed", root_cause="No DMARC").status_code == 200
    url = f"/cases/{case['id']}"
    manager = login("manager")

    bar, forms = actions(manager.get(url))
    assert forms == ["investigating"]
    assert "Reopen…" in bar
    assert "This case is closed: reopen it to escalate it, link it or change its priority." in bar

    version = case["version"] + 2
    refused = {
        "escalate": ({"kind": "hierarchical", "reason": "Board asks"}, "escalate it"),
        "links": ({"case": other["reference"], "version": version}, "link it to another case"),
        "priority": ({"priority_override": "P1", "priority_reason": "CEO", "version": version},
                     "override its priority"),
    }
    for path, (data, doing) in refused.items():
        response = manager.post(f"{url}/{path}", data)
        assert response.status_code == 409, (path, response.status_code)
        assert f"case {case['reference']} is closed; reopen it before you {doing}" in text(response)
        assert actions(response)[1] == ["investigating"]  # the page still offers only what is allowed
    api_refusal = manager_api.post(f"/api/v1/cases/{case['id']}/escalate",
                                   json={"kind": "hierarchical", "reason": "Board asks"})
    assert api_refusal.status_code == 409
    assert api_refusal.get_json()["error"]["message"] == (f"case {case['reference']} is closed; reopen it before "
                                                          "you escalate it")
    shown = manager_api.get(f"/api/v1/cases/{case['id']}").get_json()
    assert shown["escalations"] == []
    assert shown["related"] == []
    assert shown["priority"] == case["priority"]


def test_a_form_that_failed_is_shown_open_with_its_error(login, api, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    url = f"/cases/{case['id']}"
    assert '<details class="action" id="escalate">' in web.get(url).get_data(as_text=True)  # closed at first

    empty = web.post(f"{url}/escalate", {"kind": "hierarchical", "reason": ""})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    panel = html.split('<details class="action" id="escalate" open>', 1)[1].split("</details>", 1)[0]
    assert 'data-field="reason"' in panel
    assert html.count('role="alert" data-field') == 1  # shown once, in the open form

    unresolved = web.post(f"{url}/transition", {"to": "resolved", "resolution": "remediated",
                                                "version": case["version"]})
    assert unresolved.status_code == 422
    form = unresolved.get_data(as_text=True).split('data-to="resolved"', 1)[1].split("</form>", 1)[0]
    assert '<details class="action" open>' in form
    assert 'data-field="summary"' in form
    assert '<option value="remediated" selected>' in form  # what the user chose is kept


def test_functional_escalation_says_the_team_changes_on_the_form_and_the_timeline(login, api, open_case, make_team):
    make_team("SOC")
    make_team("CERT")
    case = open_case(api("manager"), team="SOC")
    manager = login("manager")
    url = f"/cases/{case['id']}"
    page = manager.get(url).get_data(as_text=True)
    notice = page.split('data-testid="functional-notice">', 1)[1].split("</p>", 1)[0]
    assert text_of(notice) == ("A functional escalation hands the case over: its team changes from SOC to the team "
                               "you choose here.")
    # the teams to hand it to are the team records, offered in a select
    assert re.findall(r'<option value="([^"]*)"', page.split('name="to_team"', 1)[1].split("</select>", 1)[0]) == [
        "", "CERT", "SOC"]

    done = manager.post(f"{url}/escalate", {"kind": "functional", "to_team": "CERT", "reason": "needs forensics"})
    assert done.status_code == 302
    timeline = text(manager.get(f"{url}/timeline"))
    assert "Team changed from SOC to CERT (functional escalation)" in timeline
    assert "team : SOC → CERT" in timeline
    again = manager.get(url).get_data(as_text=True).split('data-testid="functional-notice">', 1)[1]
    assert "its team changes from CERT to the team you choose" in text_of(again.split("</p>", 1)[0])
