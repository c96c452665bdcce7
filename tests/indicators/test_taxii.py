"""The read-only TAXII 2.1 server, driven by the real taxii2-client library against a live server."""

from __future__ import annotations

import pytest
import requests
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from casemgr.indicators import stix
from tests.indicators.conftest import add, bundle_of, indicator, post_bundle

TAXII = "application/taxii+json;version=2.1"


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@pytest.fixture
def feed(api, open_case):
    """An analyst with a shareable (GREEN) case, an AMBER case, a restricted GREEN case and TLP:RED objects."""
    analyst = api("analyst")
    green = open_case(analyst, title="Green case", tlp="green")
    for n in range(7):
        assert add(analyst, green, "ipv4-addr", f"203.0.113.{n + 1}").status_code == 201
    red = indicator("[domain-name:value = 'red.example.com']", object_marking_refs=[stix2.TLP_RED.id])
    post_bundle(analyst, green, bundle_of(red))
    amber = open_case(analyst, title="Amber case", tlp="amber")
    add(analyst, amber, "domain-name", "amber.example.com")
    hidden = open_case(analyst, title="Restricted case", tlp="green", restricted=True)
    add(analyst, hidden, "domain-name", "hidden.example.com")
    return {"analyst": analyst, "green": green, "amber": amber, "hidden": hidden, "red": red}


def server(live_server: str, token: str) -> Server:
    return Server(f"{live_server}/taxii2/", auth=Bearer(token))


def collection_titled(api_root: ApiRoot, start: str) -> Collection:
    return next(c for c in api_root.collections if c.title.startswith(start))


def test_taxii2_client_pages_through_a_case_collection(live_server, feed):
    found = server(live_server, feed["analyst"].token)
    assert found.title == "casemgr TAXII 2.1"
    api_root = found.default
    assert TAXII in api_root.versions
    titles = [c.title for c in api_root.collections]
    assert titles[0] == "Shareable indicators"
    assert any(t.startswith(feed["hidden"]["reference"]) for t in titles)  # a member sees their restricted case
    green = collection_titled(api_root, feed["green"]["reference"])
    assert green.can_read
    assert not green.can_write
    pages = list(as_pages(green.get_objects, per_request=4))
    assert len(pages) > 3
    assert all(len(p["objects"]) <= 4 for p in pages)
    assert pages[-1]["more"] is False
    objects = [o for p in pages for o in p["objects"]]
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))  # every object exactly once
    assert sum(o["type"] == "indicator" for o in objects) == 7
    assert sum(o["type"] == "sighting" for o in objects) == 7
    assert feed["red"]["id"] not in ids  # TLP:RED never leaves through TAXII
    manifest = [m for p in as_pages(green.get_manifest, per_request=5) for m in p["objects"]]
    assert [m["id"] for m in manifest] == ids
    assert {m["media_type"] for m in manifest} == {"application/stix+json;version=2.1"}
    one = green.get_object(ids[0])
    assert one["objects"][0]["id"] == ids[0]
    assert green.object_versions(ids[0])["versions"]


def test_shareable_collection_holds_clear_and_green_indicators_of_open_cases(live_server, feed, api):
    reader = api("auditor")
    shareable = collection_titled(server(live_server, reader.token).default, "Shareable")
    objects = [o for p in as_pages(shareable.get_objects, per_request=3) for o in p["objects"]]
    patterns = {o["pattern"] for o in objects}
    assert {o["type"] for o in objects} == {"indicator"}
    assert len(objects) == 7
    assert not [p for p in patterns if "amber" in p or "hidden" in p or "red" in p]
    assert all(o["object_marking_refs"] == [stix.tlp_marking("green")["id"]] for o in objects)


def test_added_after_and_type_filters(live_server, feed):
    green = collection_titled(server(live_server, feed["analyst"].token).default, feed["green"]["reference"])
    first = green.get_objects(limit=1)
    added = requests.get(f"{green.url}objects/", params={"limit": 1}, auth=Bearer(feed["analyst"].token),
                         headers={"Accept": TAXII}, timeout=10)
    assert added.headers["Content-Type"] == TAXII
    assert added.headers["X-TAXII-Date-Added-First"]
    later = green.get_objects(added_after="2999-01-01T00:00:00.000Z")
    assert later["objects"] == []
    assert later["more"] is False
    indicators = green.get_objects(type="indicator")
    assert {o["type"] for o in indicators["objects"]} == {"indicator"}
    assert first["more"] is True


def test_others_see_only_what_access_allows(live_server, feed, api):
    outsider = api("analyst")
    titles = [c.title for c in server(live_server, outsider.token).default.collections]
    assert not any(t.startswith(feed["hidden"]["reference"]) for t in titles)
    member_view = collection_titled(server(live_server, feed["analyst"].token).default, feed["hidden"]["reference"])
    hidden_url = member_view.url
    denied = requests.get(f"{hidden_url}objects/", auth=Bearer(outsider.token), headers={"Accept": TAXII},
                          timeout=10)
    assert denied.status_code == 404
    assert denied.headers["Content-Type"] == TAXII
    assert denied.json()["http_status"] == "404"
    admin = api("admin")
    refused = requests.get(f"{live_server}/taxii2/api/collections/", auth=Bearer(admin.token),
                           headers={"Accept": TAXII}, timeout=10)
    assert refused.status_code == 403


def test_token_media_type_and_parameter_errors(live_server, feed):
    base = f"{live_server}/taxii2/api/collections/"
    anonymous = requests.get(base, headers={"Accept": TAXII}, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["Content-Type"] == TAXII
    assert anonymous.json()["http_status"] == "401"
    bad_token = requests.get(base, auth=Bearer("nope"), headers={"Accept": TAXII}, timeout=10)
    assert bad_token.status_code == 401
    auth = Bearer(feed["analyst"].token)
    assert requests.get(base, auth=auth, headers={"Accept": "text/html"}, timeout=10).status_code == 406
    green = collection_titled(server(live_server, feed["analyst"].token).default, feed["green"]["reference"])
    for params, field in [({"limit": "lots"}, "limit"), ({"added_after": "yesterday"}, "added_after"),
                          ({"next": "forged"}, "next")]:
        response = requests.get(f"{green.url}objects/", params=params, auth=auth, headers={"Accept": TAXII},
                                timeout=10)
        assert response.status_code == 400, params
        assert response.json()["details"]["field"] == field
    missing = requests.get(f"{base}00000000-0000-4000-8000-000000000000/", auth=auth, headers={"Accept": TAXII},
                           timeout=10)
    assert missing.status_code == 404


def test_taxii_timestamps_have_four_digit_years_and_give_the_moment_back():
    import datetime as dt

    from casemgr.indicators.sharing import taxii_timestamp

    early = dt.datetime(999, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assert taxii_timestamp(early) == "0999-01-02T03:04:05.678Z"
    precise = dt.datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    assert taxii_timestamp(precise) == "2026-12-01T08:00:00.123456Z"
