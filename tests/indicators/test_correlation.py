"""Correlation across cases ("also seen in") and global search by value, IP-in-CIDR included, with access rules."""

from __future__ import annotations

from tests.indicators.conftest import add, bundle_of, indicator, post_bundle


def seen_in(client, case, value):
    items = client.get(f"/api/v1/cases/{case['id']}/indicators?per_page=500").get_json()["items"]
    return next(i["also_seen_in"] for i in items if i["value"] == value)


def test_a_value_known_from_another_case_shows_on_both(api, open_case):
    analyst = api("analyst")
    first = open_case(analyst, title="First")
    second = open_case(analyst, title="Second")
    third = open_case(analyst, title="Third")
    add(analyst, first, "domain-name", "c2.example.net")
    add(analyst, second, "domain-name", "C2.Example.NET")
    post_bundle(analyst, third, bundle_of(indicator("[domain-name:value = 'c2.example.net']")))
    assert seen_in(analyst, first, "c2.example.net") == sorted([second["reference"], third["reference"]])
    assert seen_in(analyst, second, "c2.example.net") == sorted([first["reference"], third["reference"]])
    created = add(analyst, first, "ipv4-addr", "203.0.113.50").get_json()
    assert created["also_seen_in"] == []
    again = add(analyst, second, "ipv4-addr", "203.0.113.50").get_json()
    assert again["also_seen_in"] == [first["reference"]]
    detail = analyst.get(f"/api/v1/cases/{first['id']}/stix/objects/{created['stix_id']}").get_json()
    assert detail["also_seen_in"] == [second["reference"]]


def test_a_restricted_case_is_never_revealed_not_even_by_count(api, open_case):
    insider = api("analyst")
    secret = open_case(insider, title="Secret", restricted=True)
    add(insider, secret, "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    add(insider, secret, "ipv4-addr", "198.51.100.0/24")
    outsider = api("analyst")
    mine = open_case(outsider, title="Mine")
    add(outsider, mine, "sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
    assert seen_in(outsider, mine, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == []
    response = outsider.get("/api/v1/indicators?value=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    body = response.get_json()
    assert body["total"] == 1
    assert [c["reference"] for c in body["cases"]] == [mine["reference"]]
    assert secret["reference"] not in response.get_data(as_text=True)
    hidden = outsider.get("/api/v1/indicators?value=198.51.100.7").get_json()
    assert hidden == {"items": [], "total": 0, "page": 1, "per_page": 50, "cases": []}
    # The member, and a manager, see both.
    assert seen_in(insider, secret, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == [
        mine["reference"]]
    manager = api("manager")
    assert len(manager.get("/api/v1/indicators?value=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                           ).get_json()["cases"]) == 2
    assert api("admin").get("/api/v1/indicators?value=198.51.100.7").get_json()["total"] == 0


def test_search_finds_addresses_in_stored_networks_and_networks_holding_addresses(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    add(analyst, case, "ipv4-addr", "198.51.100.0/24")
    add(analyst, case, "ipv4-addr", "10.0.0.0/8")
    add(analyst, case, "ipv4-addr", "203.0.113.9")
    add(analyst, case, "ipv6-addr", "2001:db8::/32")
    add(analyst, case, "domain-name", "evil.example.com")

    def found(value):
        body = analyst.get(f"/api/v1/indicators?value={value}").get_json()
        return {(i["value"], i["match"]) for i in body["items"]}

    assert found("198.51.100.77") == {("198.51.100.0/24", "in-network")}
    assert found("10.20.30.40") == {("10.0.0.0/8", "in-network")}
    assert found("203.0.113.9") == {("203.0.113.9", "value")}
    assert found("203.0.113.0/24") == {("203.0.113.9", "within")}
    assert found("198.51.100.128/25") == {("198.51.100.0/24", "in-network")}
    assert found("2001:db8:1::5") == {("2001:db8::/32", "in-network")}
    assert found("11.0.0.1") == set()
    assert found("EVIL.example.com") == {("evil.example.com", "value")}
    hits = analyst.get("/api/v1/indicators?value=198.51.100.77").get_json()
    assert hits["items"][0]["case"]["reference"] == case["reference"]
    assert [c["reference"] for c in hits["cases"]] == [case["reference"]]


def test_search_input_errors_name_the_parameter(api):
    analyst = api("analyst")
    missing = analyst.get("/api/v1/indicators")
    assert missing.status_code == 422
    assert missing.get_json()["error"]["field"] == "value"
    wrong = analyst.get("/api/v1/indicators?value=not-an-ip&type=ipv4-addr")
    assert wrong.status_code == 422
    assert wrong.get_json()["error"]["field"] == "value"
    assert analyst.get("/api/v1/indicators?value=x&type=nope").get_json()["error"]["field"] == "type"
    assert analyst.get("/api/v1/indicators?value=a.b&per_page=0").get_json()["error"]["field"] == "per_page"


def test_search_pages(api, open_case):
    analyst = api("analyst")
    for n in range(3):
        add(analyst, open_case(analyst, title=f"case {n}"), "domain-name", "shared.example.com")
    first = analyst.get("/api/v1/indicators?value=shared.example.com&per_page=2").get_json()
    second = analyst.get("/api/v1/indicators?value=shared.example.com&per_page=2&page=2").get_json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert len(first["cases"]) == 3
    past_the_end = analyst.get("/api/v1/indicators?value=shared.example.com&per_page=2&page=3").get_json()
    assert (past_the_end["items"], past_the_end["total"]) == ([], 3)
    nowhere = analyst.get("/api/v1/indicators?value=unseen.example.com").get_json()
    assert (nowhere["items"], nowhere["total"]) == ([], 0)


def test_a_lookup_answers_for_who_asks_each_time(api, open_case):
    """The lookup's statements are built once per user and kept: asked in turn by a member and an outsider of a
    restricted case, each sees their own answer, and an outsider made a member sees the case from then on."""
    insider, outsider, manager = api("analyst", "insider"), api("analyst", "outsider"), api("manager")
    secret = open_case(insider, title="Secret", restricted=True)
    add(insider, secret, "ipv4-addr", "198.51.100.0/24")
    add(insider, secret, "domain-name", "hidden.example.net")

    def cases_found(client, value):
        body = client.get(f"/api/v1/indicators?value={value}").get_json()
        return body["total"], [c["reference"] for c in body["cases"]]

    for value in ("hidden.example.net", "198.51.100.7", "198.51.100.0/25", "198.51.100.0/24"):
        for _ in range(2):
            assert cases_found(insider, value) == (1, [secret["reference"]])
            assert cases_found(outsider, value) == (0, [])
    r = manager.patch(f"/api/v1/cases/{secret['id']}", json={"version": secret["version"],
                                                              "members": ["insider", "outsider"]})
    assert r.status_code == 200, r.get_json()
    assert cases_found(outsider, "198.51.100.7") == (1, [secret["reference"]])
    assert cases_found(outsider, "hidden.example.net") == (1, [secret["reference"]])
