"""Incident roles through the API, the CLI and the pages: what each caller sees and is refused."""

from __future__ import annotations

import pytest

P1 = {"impact": "high", "urgency": "high"}


@pytest.fixture
def p1(api, open_case, make_user):
    make_user("analyst", "bob")
    return open_case(api("manager", "mgr"), **P1)


def test_api_assigns_hands_over_and_releases(api, p1):
    mgr = api("manager", "mgr2")
    url = f"/api/v1/cases/{p1['id']}/roles"
    assert mgr.put(f"{url}/incident_commander", json={"user": "bob"}).status_code == 200
    held = mgr.put(f"{url}/incident_commander", json={"user": "mgr"}).get_json()
    assert held["current"]["user"] == "mgr"
    assert [b["user"] for b in held["before"]] == ["bob"]
    assert mgr.get(f"/api/v1/cases/{p1['id']}").get_json()["incident_roles"] == {"incident_commander": "mgr"}
    listed = mgr.get(url).get_json()["items"]
    assert listed[0]["role"]["code"] == "incident_commander"
    released = mgr.delete(f"{url}/incident_commander").get_json()
    assert released["current"] is None
    assert mgr.get(f"/api/v1/cases/{p1['id']}").get_json()["incident_roles"] == {}


@pytest.mark.parametrize(("body", "status", "field"), [({"user": "nobody"}, 422, "user"), ({}, 422, "user"),
                                                       ({"user": "bob", "x": 1}, 422, "x")])
def test_api_bad_assignments_name_the_field(api, p1, body, status, field):
    response = api("manager", "mgr2").put(f"/api/v1/cases/{p1['id']}/roles/scribe", json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field


def test_api_refuses_analysts_who_do_not_own_the_case_and_unknown_roles(api, p1):
    response = api("analyst", "carl").put(f"/api/v1/cases/{p1['id']}/roles/scribe", json={"user": "bob"})
    assert response.status_code == 403
    assert "only managers and the owner" in response.get_json()["error"]["message"]
    assert api("manager", "mgr2").put(f"/api/v1/cases/{p1['id']}/roles/chef", json={"user": "bob"}).status_code == 404


def test_api_role_kinds_for_admins(api):
    admin = api("admin", "adm")
    created = admin.post("/api/v1/incident-roles", json={"code": "forensics_lead", "label": "Forensics lead"})
    assert created.status_code == 201
    bad = admin.post("/api/v1/incident-roles", json={"code": "Forensics-Lead", "label": "x"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "code"
    assert admin.patch("/api/v1/incident-roles/forensics_lead", json={"retired": True}).get_json()["retired"] is True
    refused = api("manager", "mgr").post("/api/v1/incident-roles", json={"code": "x_lead", "label": "x"})
    assert refused.status_code == 403
    codes = [k["code"] for k in api("analyst", "ann").get("/api/v1/incident-roles").get_json()["items"]]
    assert codes[:2] == ["incident_commander", "deputy"]
    assert "forensics_lead" in codes


def test_cli_assigns_lists_and_releases(run_cli, p1):
    ref = p1["reference"]
    assigned = run_cli("case", "role", "assign", ref, "incident_commander", "bob")
    assert assigned.exit_code == 0, assigned.output
    assert "Incident commander is bob" in assigned.output
    listed = run_cli("case", "role", "list", ref).output
    assert "incident_commander     bob" in listed
    assert run_cli("case", "role", "release", ref, "incident_commander").exit_code == 0
    assert "(before: bob)" in run_cli("case", "role", "list", ref).output
    refused = run_cli("case", "role", "assign", ref, "scribe", "bob", "--as", "bob")
    assert refused.exit_code != 0
    assert "only managers and the owner" in refused.output


def test_cli_manages_kinds(run_cli):
    assert run_cli("case", "role", "add-kind", "forensics_lead", "Forensics lead").exit_code == 0
    assert run_cli("case", "role", "retire-kind", "forensics_lead").exit_code == 0
    assert "forensics_lead         Forensics lead               added, retired" in run_cli("case", "role",
                                                                                          "kinds").output
    bad = run_cli("case", "role", "add-kind", "Bad Code", "x")
    assert bad.exit_code != 0
    assert "code" in bad.output


def test_the_p1_flag_on_the_list_and_the_managers_home(login, api, p1, open_case):
    p3 = open_case(api("manager", "mgr3"))
    web = login("manager", "mia")
    listed = web.get("/cases").get_data(as_text=True)
    row = listed.split(f'data-reference="{p1["reference"]}"')[1].split("</tr>")[0]
    assert "no incident commander" in row
    assert "no incident commander" not in listed.split(f'data-reference="{p3["reference"]}"')[1].split("</tr>")[0]
    filtered = web.get("/cases?no_commander=true").get_data(as_text=True)
    assert p1["reference"] in filtered
    assert p3["reference"] not in filtered
    home = web.get("/").get_data(as_text=True).split('data-testid="dashboard-no_commander"')[1].split("</section>")[0]
    assert p1["reference"] in home
    listed = api("manager", "mgr6").get("/api/v1/cases?no_commander=true").get_json()["items"]
    assert [c["reference"] for c in listed] == [p1["reference"]]
    api("manager", "mgr4").put(f"/api/v1/cases/{p1['id']}/roles/incident_commander", json={"user": "bob"})
    assert "no incident commander" not in web.get("/cases").get_data(as_text=True)
    home = web.get("/").get_data(as_text=True).split('data-testid="dashboard-no_commander"')[1].split("</section>")[0]
    assert "every open P1 case has an incident commander" in home


def test_the_case_page_shows_holders_and_offers_forms_only_to_those_who_may_assign(login, api, p1):
    api("manager", "mgr5").put(f"/api/v1/cases/{p1['id']}/roles/technical_lead", json={"user": "bob"})
    page = login("analyst", "carl").get(f"/cases/{p1['id']}").get_data(as_text=True)
    assert "bob" in page.split('data-role="technical_lead"')[1].split("</tr>")[0]
    assert "role-form-" not in page
    assert 'data-testid="no-commander"' in page
    manager_page = login("manager", "mia").get(f"/cases/{p1['id']}").get_data(as_text=True)
    assert 'data-testid="role-form-incident_commander"' in manager_page


def test_cli_lists_the_p1_cases_with_no_commander(run_cli, api, p1, open_case):
    p3 = open_case(api("manager", "mgr7"))
    flagged = run_cli("case", "list", "--no-commander")
    assert flagged.exit_code == 0, flagged.output
    assert p1["reference"] in flagged.output
    assert p3["reference"] not in flagged.output
    assert "1 case(s)" in flagged.output
    assert p3["reference"] in run_cli("case", "list").output  # without the option: every case
    run_cli("case", "role", "assign", p1["reference"], "incident_commander", "bob")
    assert "0 case(s)" in run_cli("case", "list", "--no-commander").output


def test_a_built_in_kind_is_not_retired_on_any_path(run_cli, api):
    refused = run_cli("case", "role", "retire-kind", "incident_commander")
    assert refused.exit_code != 0
    assert "built-in roles cannot be retired" in refused.output
    answer = api("admin", "adm9").patch("/api/v1/incident-roles/scribe", json={"retired": True})
    assert answer.status_code == 409
    assert answer.get_json()["error"]["field"] == "retired"
