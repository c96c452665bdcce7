"""Who sees and who changes which case: through the API, the list, search, counts and the CLI.

A restricted case is visible only to its members, managers and auditors; to anyone else it does
not exist (404, absent from lists, search and counts). Auditors read only; admins see no cases.
"""

from __future__ import annotations

import pytest

from casemgr.auth.actor import Actor
from casemgr.cases import service
from casemgr.errors import Forbidden

SECRET = "zebrafinch"  # a word only the restricted case contains


@pytest.fixture
def world(api, open_case):
    """An open case and a restricted one (opened by `member`), and a client per role."""
    clients = {"member": api("analyst", "member"), "analyst": api("analyst", "outsider"),
               "manager": api("manager", "boss"), "auditor": api("auditor", "reader"),
               "admin": api("admin", "root")}
    public = open_case(clients["member"], title="Open phishing case")
    restricted = open_case(clients["member"], title=f"Insider case {SECRET}", restricted=True,
                           description=f"HR investigation about {SECRET}.")
    return clients, public, restricted


SEES_RESTRICTED = {"member": True, "analyst": False, "manager": True, "auditor": True, "admin": False}
SEES_OPEN = {"member": True, "analyst": True, "manager": True, "auditor": True, "admin": False}


@pytest.mark.parametrize("role", list(SEES_RESTRICTED))
def test_reading_a_case_by_role(world, role):
    clients, public, restricted = world
    client = clients[role]
    for case, sees in ((public, SEES_OPEN[role]), (restricted, SEES_RESTRICTED[role])):
        for path in ("", "/timeline"):
            r = client.get(f"/api/v1/cases/{case['id']}{path}")
            assert r.status_code == (200 if sees else 404), (case["title"], path, r.get_json())
        if not sees:
            error = r.get_json()["error"]
            assert error["code"] == "not_found"
            assert SECRET not in r.get_data(as_text=True)


@pytest.mark.parametrize("role", list(SEES_RESTRICTED))
def test_lists_search_and_counts_leave_out_hidden_cases(world, role):
    clients, _public, _restricted = world
    client = clients[role]
    expected = int(SEES_OPEN[role]) + int(SEES_RESTRICTED[role])
    listing = client.get("/api/v1/cases").get_json()
    assert listing["total"] == expected == len(listing["items"])
    found = client.get(f"/api/v1/cases?q={SECRET}").get_json()
    assert found["total"] == int(SEES_RESTRICTED[role])
    assert (SECRET in str(found)) is SEES_RESTRICTED[role]
    assert client.get("/api/v1/cases?restricted=true").get_json()["total"] == int(SEES_RESTRICTED[role])


@pytest.mark.parametrize("role", list(SEES_RESTRICTED))
def test_dashboard_counts_only_visible_cases(world, db, role):
    clients, _public, _restricted = world
    with db.transaction() as s:
        actor = Actor(user=s.merge(clients[role].user), via="web")
        if role == "admin":  # admins see no case content, not even counts
            with pytest.raises(Forbidden, match="do not see case content"):
                service.dashboard(s, actor)
            return
        board = service.dashboard(s, actor)
        seen = int(SEES_OPEN[role]) + int(SEES_RESTRICTED[role])
        assert sum(board.counts_by_state.values()) == seen
        unassigned = {"manager": "queue", "auditor": None}.get(role, "unassigned")
        if unassigned:
            assert board.section(unassigned).total == seen


CHANGES = {"member": (200, 200), "analyst": (200, 404), "manager": (200, 200), "auditor": (403, 403),
           "admin": (404, 404)}


@pytest.mark.parametrize("role", list(CHANGES))
def test_changing_a_case_by_role(world, role):
    clients, public, restricted = world
    client = clients[role]
    for case, expected in zip((public, restricted), CHANGES[role], strict=True):
        r = client.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"], "tags": ["x"]})
        assert r.status_code == expected, (role, case["title"], r.get_json())
        r = client.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "a note"})
        assert r.status_code == (201 if expected == 200 else expected)
        r = client.post(f"/api/v1/cases/{case['id']}/transition", json={"to": "triage"})
        assert r.status_code == expected


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_cannot_open_cases(api, role):
    r = api(role).post("/api/v1/cases", json={"title": "x", "category": "other", "impact": "low", "urgency": "low"})
    assert r.status_code == 403


def test_linking_to_a_hidden_case_is_404_naming_the_field(world):
    clients, public, restricted = world
    r = clients["analyst"].post(f"/api/v1/cases/{public['id']}/links", json={"case": restricted["id"]})
    assert (r.status_code, r.get_json()["error"]["field"]) == (404, "case")


def test_related_cases_show_only_what_the_reader_may_see(world):
    clients, public, restricted = world
    r = clients["member"].post(f"/api/v1/cases/{public['id']}/links", json={"case": restricted["id"]})
    assert r.status_code == 201
    assert [x["case"]["id"] for x in clients["member"].get(f"/api/v1/cases/{public['id']}").get_json()["related"]] \
        == [restricted["id"]]
    outsider_view = clients["analyst"].get(f"/api/v1/cases/{public['id']}")
    assert outsider_view.get_json()["related"] == []
    assert SECRET not in outsider_view.get_data(as_text=True)


def test_manager_adds_a_member_who_then_sees_the_case(world):
    clients, _public, restricted = world
    before = clients["analyst"].get(f"/api/v1/cases/{restricted['id']}")
    assert before.status_code == 404
    r = clients["manager"].patch(f"/api/v1/cases/{restricted['id']}",
                                 json={"version": restricted["version"], "members": ["member", "outsider"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["members"] == ["member", "outsider"]
    assert clients["analyst"].get(f"/api/v1/cases/{restricted['id']}").status_code == 200


def test_analyst_may_not_assign_others_but_may_take_an_unassigned_case(world):
    clients, public, _restricted = world
    analyst = clients["analyst"]
    r = analyst.patch(f"/api/v1/cases/{public['id']}", json={"version": public["version"], "owner": "member"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (403, "owner")
    r = analyst.patch(f"/api/v1/cases/{public['id']}", json={"version": public["version"], "owner": "outsider"})
    assert r.status_code == 200
    assert r.get_json()["owner"] == "outsider"
    assert "outsider" in r.get_json()["members"]


@pytest.mark.parametrize(("as_user", "sees", "count"), [(None, True, 2), ("member", True, 2), ("outsider", False, 1),
                                                        ("reader", True, 2), ("root", False, 0)])
def test_cli_list_and_show_follow_the_access_rules(world, run_cli, as_user, sees, count):
    clients, _public, restricted = world
    extra = ["--as", as_user] if as_user else []
    listed = run_cli("case", "list", *extra)
    assert listed.exit_code == 0, listed.output
    assert (restricted["reference"] in listed.output) is sees
    assert listed.output.strip().endswith(f"{count} case(s)")
    shown = run_cli("case", "show", restricted["reference"], *extra)
    if sees:
        assert shown.exit_code == 0, shown.output
        assert SECRET in shown.output
    else:
        assert shown.exit_code == 1
        assert "does not exist" in shown.output
        assert SECRET not in shown.output


@pytest.mark.parametrize("who", ["nobody", "disabled-one"])
def test_cli_as_an_unknown_or_disabled_user_is_refused(world, run_cli, make_user, who):
    if who == "disabled-one":
        make_user("analyst", who)
        assert run_cli("user", "disable", who).exit_code == 0
    result = run_cli("case", "list", "--as", who)
    assert result.exit_code == 1
    assert f"casemgr: error (--as): there is no active user '{who}'" in result.output
