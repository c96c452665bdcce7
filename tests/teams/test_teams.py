"""Teams: admins manage them (API, pages, CLI), everyone signed in lists them, every change is audited;
cases and functional escalations refer to them, and a retired team cannot be chosen for a case."""

from __future__ import annotations

import re

from sqlalchemy import select

from casemgr.audit.models import AuditEntry


def _audit(db, action):
    with db.transaction() as s:
        return [e.summary for e in s.scalars(select(AuditEntry).where(AuditEntry.action == action))]


# ---------------------------------------------------------------- API and service

def test_admin_creates_changes_staffs_and_retires_a_team_and_each_change_is_audited(api, make_user, db):
    admin = api("admin", "adm")
    make_user("analyst", "ann")
    make_user("manager", "mia")
    made = admin.post("/api/v1/teams", json={"name": "CERT", "description": "Forensics", "lead": "mia",
                                             "members": ["ann"], "contact_email": "cert@example.org"})
    assert made.status_code == 201, made.get_json()
    team = made.get_json()
    assert (team["name"], team["lead"], team["members"], team["contact_email"], team["retired_at"]) == (
        "CERT", "mia", ["ann", "mia"], "cert@example.org", None)  # the lead is a member

    changed = admin.patch(f"/api/v1/teams/{team['id']}", json={"name": "CERT-EU", "contact_email": None})
    assert (changed.status_code, changed.get_json()["name"], changed.get_json()["contact_email"]) == (
        200, "CERT-EU", None)
    left = admin.delete(f"/api/v1/teams/{team['id']}/members/ann").get_json()
    assert left["members"] == ["mia"]
    lead = admin.delete(f"/api/v1/teams/{team['id']}/members/mia")
    assert (lead.status_code, lead.get_json()["error"]["field"]) == (422, "username")
    assert admin.post(f"/api/v1/teams/{team['id']}/members", json={"username": "ann"}).get_json()["members"] == [
        "ann", "mia"]
    retired = admin.post(f"/api/v1/teams/{team['id']}/retire")
    assert retired.status_code == 200
    assert retired.get_json()["retired_at"]
    assert admin.post(f"/api/v1/teams/{team['id']}/retire").status_code == 409

    assert [s["name"] for s in _audit(db, "team.create")] == ["CERT"]
    assert _audit(db, "team.update")[0]["changes"] == {"name": ["CERT", "CERT-EU"],
                                                       "contact_email": ["cert@example.org", None]}
    assert [s["username"] for s in _audit(db, "team.member_remove")] == ["ann"]
    assert [s["username"] for s in _audit(db, "team.member_add")] == ["ann"]
    assert [s["name"] for s in _audit(db, "team.retire")] == ["CERT-EU"]


def test_names_are_unique_whatever_their_case_and_bad_input_names_the_field(api):
    admin = api("admin")
    assert admin.post("/api/v1/teams", json={"name": "SOC"}).status_code == 201
    taken = admin.post("/api/v1/teams", json={"name": " soc "})
    assert (taken.status_code, taken.get_json()["error"]["field"]) == (409, "name")
    for body, field in [({"name": "CERT", "contact_email": "not an address"}, "contact_email"),
                        ({"name": "CERT", "lead": "nobody"}, "lead"),
                        ({"name": "CERT", "members": ["nobody"]}, "members"),
                        ({"name": ""}, "name"), ({"name": "<b>x</b>"}, "name")]:
        refused = admin.post("/api/v1/teams", json=body)
        assert (refused.status_code, refused.get_json()["error"]["field"]) == (422, field), body


def test_everyone_signed_in_lists_teams_and_only_admins_change_them(api, make_team):
    make_team("SOC")
    make_team("CERT")
    analyst = api("analyst")
    listed = analyst.get("/api/v1/teams").get_json()
    assert ([t["name"] for t in listed["items"]], listed["total"]) == (["CERT", "SOC"], 2)
    assert analyst.post("/api/v1/teams", json={"name": "Mine"}).status_code == 403
    assert api("manager").patch(f"/api/v1/teams/{listed['items'][0]['id']}", json={"name": "X"}).status_code == 403


# ---------------------------------------------------------------- cases and escalations

def test_a_case_takes_a_team_by_name_and_shows_its_name_and_id(api, open_case, make_team):
    cert = make_team("CERT")
    manager = api("manager")
    case = open_case(manager, team="cert")
    assert (case["team"], case["team_id"]) == ("CERT", cert.id)
    listed = manager.get("/api/v1/cases?team=Cert").get_json()["items"]
    assert [(c["id"], c["team"], c["team_id"]) for c in listed] == [(case["id"], "CERT", cert.id)]
    unknown = manager.post("/api/v1/cases", json={"title": "x", "category": "other", "impact": "low",
                                                  "urgency": "low", "team": "NOC"})
    assert (unknown.status_code, unknown.get_json()["error"]["field"]) == (422, "team")
    cleared = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"], "team": None})
    assert (cleared.get_json()["team"], cleared.get_json()["team_id"]) == (None, None)


def test_a_retired_team_stays_on_its_cases_and_cannot_be_chosen(api, open_case, make_team, login):
    make_team("CERT")
    old = make_team("Old SOC")
    manager, admin = api("manager", "mia"), api("admin")
    case = open_case(manager, team="Old SOC")
    assert admin.post(f"/api/v1/teams/{old.id}/retire").status_code == 200

    kept = manager.get(f"/api/v1/cases/{case['id']}").get_json()
    assert kept["team"] == "Old SOC"
    edited = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": kept["version"], "title": "Renamed",
                                                                 "team": "Old SOC"})
    assert edited.status_code == 200, edited.get_json()  # keeping it is no choice
    new = manager.post("/api/v1/cases", json={"title": "x", "category": "other", "impact": "low",
                                              "urgency": "low", "team": "old soc"})
    assert (new.status_code, new.get_json()["error"]["field"]) == (422, "team")
    assert "retired" in new.get_json()["error"]["message"]
    handed = manager.post(f"/api/v1/cases/{case['id']}/escalate",
                          json={"kind": "functional", "to_team": "Old SOC", "reason": "back"})
    assert (handed.status_code, handed.get_json()["error"]["field"]) == (422, "to_team")
    assert [t["name"] for t in manager.get("/api/v1/teams").get_json()["items"]] == ["CERT"]
    assert [t["name"] for t in manager.get("/api/v1/teams?retired=true").get_json()["items"]] == ["CERT", "Old SOC"]

    web = login("manager", "max")
    page = web.get("/cases/new").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]*)"', page.split('name="team"', 1)[1].split("</select>", 1)[0])
    assert options == ["", "CERT"]
    edit = web.get(f"/cases/{case['id']}/edit").get_data(as_text=True)
    assert '<option value="Old SOC" selected>Old SOC (retired)</option>' in edit


def test_functional_escalation_hands_the_case_to_a_team_record(api, open_case, make_team):
    make_team("SOC")
    cert = make_team("CERT")
    manager = api("manager")
    case = open_case(manager, team="SOC")
    done = manager.post(f"/api/v1/cases/{case['id']}/escalate",
                        json={"kind": "functional", "to_team": "cert", "reason": "needs forensics"})
    assert done.status_code == 201, done.get_json()
    shown = manager.get(f"/api/v1/cases/{case['id']}").get_json()
    assert (shown["team"], shown["team_id"]) == ("CERT", cert.id)
    assert [(e["to_team"], e["to_team_id"]) for e in shown["escalations"]] == [("CERT", cert.id)]
    timeline = manager.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]
    assert "Team changed from SOC to CERT (functional escalation)" in [e["summary"] for e in timeline]


# ---------------------------------------------------------------- pages and CLI

def test_the_admin_pages_list_and_show_teams_and_others_are_refused(login, make_team, make_user):
    make_user("analyst", "ann")
    team = make_team("CERT", lead="ann", contact_email="cert@example.org")
    admin = login("admin")
    listed = admin.get("/admin/teams").get_data(as_text=True)
    assert f'data-testid="team-{team.id}"' in listed
    assert "cert@example.org" in listed
    shown = admin.get(f"/admin/teams/{team.id}").get_data(as_text=True)
    assert 'data-testid="member-ann"' in shown
    assert "ann (lead)" in shown
    assert admin.get("/admin/teams/9999").status_code == 404
    assert login("manager").get("/admin/teams").status_code == 403


def test_the_new_team_form_shows_the_error_and_keeps_the_values(login, make_team):
    make_team("CERT")
    admin = login("admin")
    refused = admin.post("/admin/teams", {"name": "cert", "description": "second try", "lead": "",
                                          "contact_email": ""})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert 'data-field="name"' in html
    assert "second try" in html


def test_cli_creates_lists_edits_staffs_and_retires(run_cli, make_user):
    make_user("analyst", "ann")
    make_user("analyst", "bob")
    made = run_cli("team", "create", "CERT", "--lead", "ann", "--email", "cert@example.org")
    assert (made.exit_code, made.output) == (0, "created team CERT\n")
    assert run_cli("team", "create", "cert").exit_code == 1
    assert run_cli("team", "add-member", "cert", "bob").output == "team CERT: ann, bob\n"
    assert run_cli("team", "remove-member", "CERT", "bob").output == "team CERT: ann\n"
    assert run_cli("team", "edit", "CERT", "--rename", "CERT-EU", "--email", "").output == "changed team CERT-EU\n"
    assert run_cli("team", "list").output == "CERT-EU\tlead ann\t1 members\t-\n"
    assert run_cli("team", "retire", "CERT-EU").exit_code == 0
    assert run_cli("team", "list").output == ""
    assert run_cli("team", "list", "--retired").output.startswith("CERT-EU (retired)")
    bad = run_cli("team", "create", "NOC", "--email", "nope")
    assert bad.exit_code == 1
    assert "contact_email" in bad.output
