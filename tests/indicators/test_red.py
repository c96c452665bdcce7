"""TLP:RED on every read path: a RED object is visible only to its case's members and managers.

One case (not restricted, so every analyst, manager and auditor sees it) holds an AMBER indicator, a RED one
imported from a bundle, and an indicator whose older version was RED. Another case holds the RED value as
AMBER. Each path is read by a member, a non-member analyst, a manager and an auditor.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from casemgr.indicators import stix
from tests.conftest import WebClient
from tests.indicators.conftest import add, bundle_of, indicator, post_bundle

RED_MARKING = stix.tlp_marking("red")["id"]
GREEN_MARKING = stix.tlp_marking("green")["id"]
RED_VALUE = "red.example.com"
TAXII = "application/taxii+json;version=2.1"
# Who sees the RED objects of a case they may see.
SEES_RED = {"member": True, "manager": True, "outsider": False, "auditor": False}


@pytest.fixture
def world(api, app, open_case) -> dict[str, Any]:
    member = api("analyst")
    case = open_case(member, title="Case with red", tlp="amber")
    assert add(member, case, "domain-name", "amber.example.net").status_code == 201
    red = indicator(f"[domain-name:value = '{RED_VALUE}']", object_marking_refs=[RED_MARKING])
    versioned_id = f"indicator--{uuid.uuid4()}"
    old = indicator("[ipv4-addr:value = '198.51.100.9']", id=versioned_id, object_marking_refs=[RED_MARKING])
    new = indicator("[ipv4-addr:value = '198.51.100.9']", id=versioned_id, modified="2026-02-01T00:00:00.000Z",
                    object_marking_refs=[GREEN_MARKING])
    assert post_bundle(member, case, bundle_of(red, old)).status_code == 200
    assert post_bundle(member, case, bundle_of(new)).status_code == 200
    other = open_case(member, title="Other case", tlp="amber")
    assert add(member, other, "domain-name", RED_VALUE).status_code == 201
    clients = {"member": member, "manager": api("manager"), "outsider": api("analyst"), "auditor": api("auditor")}
    webs = {}
    for role, client in clients.items():
        web = WebClient(app.test_client())
        assert web.login(client.user.username).status_code == 302
        webs[role] = web
    return {"case": case, "other": other, "red": red, "versioned_id": versioned_id, "api": clients, "web": webs}


def test_the_case_api_shows_red_objects_only_to_members_and_managers(world):
    for role, sees in SEES_RED.items():
        client, case = world["api"][role], world["case"]
        listed = client.get(f"/api/v1/cases/{case['id']}/indicators?per_page=200")
        assert listed.status_code == 200
        values = {i["value"] for i in listed.get_json()["items"]}
        assert (RED_VALUE in values) is sees
        assert listed.get_json()["total"] == len(values)
        assert ('"red"' in listed.get_data(as_text=True)) is sees

        objects = client.get(f"/api/v1/cases/{case['id']}/stix/objects?per_page=200").get_json()
        tlps = {o["tlp"] for o in objects["items"]}
        assert ("red" in tlps) is sees
        assert objects["total"] == len(objects["items"]) == sum(objects["types"].values())
        assert (RED_VALUE in json.dumps(objects)) is sees

        one = client.get(f"/api/v1/cases/{case['id']}/stix/objects/{world['red']['id']}")
        assert one.status_code == (200 if sees else 404)
        versioned = client.get(f"/api/v1/cases/{case['id']}/stix/objects/{world['versioned_id']}").get_json()
        assert versioned["tlp"] == "green"
        assert len(versioned["versions"]) == (1 if sees else 0)  # the older version was RED


def test_search_and_correlation_do_not_count_hidden_red_objects(world):
    for role, sees in SEES_RED.items():
        client, case, other = world["api"][role], world["case"], world["other"]
        found = client.get(f"/api/v1/indicators?value={RED_VALUE}").get_json()
        assert {h["case"]["reference"] for h in found["items"]} == (
            {case["reference"], other["reference"]} if sees else {other["reference"]})
        assert found["total"] == (2 if sees else 1)
        assert {c["reference"] for c in found["cases"]} == (
            {case["reference"], other["reference"]} if sees else {other["reference"]})
        correlated = client.get(f"/api/v1/cases/{other['id']}/indicators").get_json()["items"]
        assert correlated[0]["also_seen_in"] == ([case["reference"]] if sees else [])


def test_free_text_review_does_not_reveal_a_hidden_red_value(world):
    for role in ["member", "outsider", "manager"]:  # auditors do not add indicators
        client, case = world["api"][role], world["case"]
        found = client.post(f"/api/v1/cases/{case['id']}/indicators/extract", json={"text": f"seen {RED_VALUE}"})
        assert found.status_code == 200
        assert found.get_json()["items"][0]["on_case"] is SEES_RED[role]


def test_adding_a_value_the_case_holds_as_red_hands_nothing_out_to_a_non_member(world):
    case, member = world["case"], world["api"]["member"]
    for role in ["outsider", "member", "manager"]:
        client = world["api"][role]
        again = add(client, case, "domain-name", RED_VALUE)
        if SEES_RED[role]:
            assert again.status_code == 200
            assert again.get_json()["created"] is False
            continue
        assert again.status_code == 403
        assert again.get_json()["error"]["field"] == "value"
        assert RED_VALUE not in again.get_data(as_text=True)
        assert world["red"]["id"] not in again.get_data(as_text=True)
        accepted = client.post(f"/api/v1/cases/{case['id']}/indicators/accept",
                               json={"items": [{"type": "domain-name", "value": RED_VALUE}]})
        assert accepted.status_code == 403
        assert accepted.get_json()["error"]["field"] == "items.0.value"
    listed = member.get(f"/api/v1/cases/{case['id']}/indicators?per_page=200").get_json()["items"]
    assert [i["sightings"] for i in listed if i["value"] == RED_VALUE] == [2]  # member and manager only
    sightings = member.get(f"/api/v1/cases/{case['id']}/stix/objects?type=sighting").get_json()["items"]
    of_red = [s for s in sightings if s["stix"]["sighting_of_ref"] == world["red"]["id"]]
    assert [s["tlp"] for s in of_red] == ["red"]  # marked as the indicator it is of, so hidden with it
    outsider = world["api"]["outsider"].get(f"/api/v1/cases/{case['id']}/stix/objects?type=sighting")
    assert world["red"]["id"] not in outsider.get_data(as_text=True)


def test_the_case_pages_show_red_objects_only_to_members_and_managers(world):
    for role, sees in SEES_RED.items():
        web, case, other = world["web"][role], world["case"], world["other"]
        tab = web.get(f"/cases/{case['id']}/indicators")
        assert tab.status_code == 200
        assert (RED_VALUE in tab.get_data(as_text=True)) is sees
        assert ("TLP:RED" in tab.get_data(as_text=True)) is sees
        objects = web.get(f"/cases/{case['id']}/stix/objects")
        assert objects.status_code == 200
        assert (world["red"]["id"] in objects.get_data(as_text=True)) is sees
        assert ("TLP:RED" in objects.get_data(as_text=True)) is sees
        assert web.get(f"/cases/{case['id']}/stix/objects/{world['red']['id']}").status_code == (200 if sees else 404)
        versioned = web.get(f"/cases/{case['id']}/stix/objects/{world['versioned_id']}").get_data(as_text=True)
        assert (RED_MARKING in versioned) is sees
        search = web.get(f"/indicators/search?value={RED_VALUE}").get_data(as_text=True)
        assert (case["reference"] in search) is sees
        assert other["reference"] in search
        other_tab = web.get(f"/cases/{other['id']}/indicators").get_data(as_text=True)
        assert (case["reference"] in other_tab) is sees


def test_export_leaves_red_out_and_gives_it_only_to_members_and_managers(world):
    for role, sees in SEES_RED.items():
        client, case = world["api"][role], world["case"]
        plain = client.get(f"/api/v1/cases/{case['id']}/stix")
        assert plain.status_code == 200
        assert RED_VALUE not in plain.get_data(as_text=True)
        full = client.get(f"/api/v1/cases/{case['id']}/stix?include_red=true")
        assert full.status_code == (200 if sees else 403)
        if sees:
            assert RED_VALUE in full.get_data(as_text=True)
        page = world["web"][role].get(f"/cases/{case['id']}/stix/export?include_red=on")
        assert page.status_code == (200 if sees else 403)


def test_taxii_serves_no_red_object_nor_an_older_red_version(world):
    for role in SEES_RED:  # not even to those who may have RED objects: TAXII shares
        client, case = world["api"][role], world["case"]
        headers = {"Accept": TAXII}
        collections = client.get("/taxii2/api/collections/", headers=headers).get_json()["collections"]
        mine = next(c for c in collections if c["title"].startswith(case["reference"]))
        base = f"/taxii2/api/collections/{mine['id']}"
        objects = client.get(f"{base}/objects/?limit=1000", headers=headers).get_data(as_text=True)
        assert RED_VALUE not in objects
        assert RED_MARKING not in objects
        assert client.get(f"{base}/objects/{world['red']['id']}/", headers=headers).status_code == 404
        versions = client.get(f"{base}/objects/{world['versioned_id']}/versions/", headers=headers).get_json()
        assert versions["versions"] == ["2026-02-01T00:00:00.000Z"]
        every = client.get(f"{base}/objects/{world['versioned_id']}/?match[version]=all", headers=headers)
        assert RED_MARKING not in every.get_data(as_text=True)


def test_the_cli_operator_counts_as_a_manager(world, run_cli):
    full = run_cli("stix", "export", world["case"]["reference"], "--include-red")
    assert full.exit_code == 0
    assert RED_VALUE in full.stdout
    assert RED_VALUE not in run_cli("stix", "export", world["case"]["reference"]).stdout
