"""Imports that needed work first: STIX 2.0 bundles (converted with the stix2-elevator) and the TLP markings of
OpenCTI and MISP exports (mapped to the TLP 2.0 marking definitions), as the import summary, the API and the
stored objects show them."""

from __future__ import annotations

import io
import json
import re
import uuid

import stix2

from tests.indicators.conftest import bundle_of, export, post_bundle, shared

TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP2_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
OPENCTI_AMBER_STRICT = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"  # OpenCTI's own id
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
OPENCTI_CLEAR = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"  # TLP1 WHITE's id, OpenCTI's form
T = "2024-03-05T10:11:12.000Z"


def upload(web, case, data: bytes):
    web.get(f"/cases/{case['id']}/indicators")
    return web.post(f"/cases/{case['id']}/stix/upload", {"bundle": (io.BytesIO(data), "feed.json")},
                    content_type="multipart/form-data")


def opencti_export() -> dict:
    """A bundle as OpenCTI 5/6 exports it: its TLP markings with definition_type "TLP" (upper case, which STIX
    2.1 does not allow), TLP:AMBER+STRICT under OpenCTI's own id, TLP:CLEAR as OpenCTI writes it, and
    x_opencti_* properties."""
    markings = [
        {"type": "marking-definition", "spec_version": "2.1", "id": OPENCTI_AMBER_STRICT, "created": T,
         "definition_type": "TLP", "name": "TLP:AMBER+STRICT", "definition": {"TLP": "TLP:AMBER+STRICT"},
         "x_opencti_order": 3, "x_opencti_color": "#d84315"},
        {"type": "marking-definition", "spec_version": "2.1", "id": TLP1_GREEN, "created": T,
         "definition_type": "TLP", "name": "TLP:GREEN", "definition": {"TLP": "TLP:GREEN"},
         "x_opencti_order": 1, "x_opencti_color": "#2e7d32"},
        {"type": "marking-definition", "spec_version": "2.1", "id": OPENCTI_CLEAR, "created": T,
         "definition_type": "statement", "name": "TLP:CLEAR", "definition": {"statement": "custom"},
         "x_opencti_definition_type": "TLP", "x_opencti_definition": "TLP:CLEAR"},
    ]
    author = {"type": "identity", "spec_version": "2.1", "id": "identity--7b82b010-b1c0-4dae-981f-7756374a17df",
              "created": T, "modified": T, "name": "CERT-EX", "identity_class": "organization"}

    def ioc(value: str, marking: str) -> dict:
        return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                "created": T, "modified": T, "name": value, "pattern": f"[domain-name:value = '{value}']",
                "pattern_type": "stix", "valid_from": T, "created_by_ref": author["id"],
                "object_marking_refs": [marking], "x_opencti_score": 80,
                "x_opencti_main_observable_type": "Domain-Name"}

    return bundle_of(*markings, author, ioc("strict.evil.example", OPENCTI_AMBER_STRICT),
                     ioc("green.evil.example", TLP1_GREEN), ioc("clear.evil.example", OPENCTI_CLEAR))


def test_a_stix20_bundle_is_converted_with_a_summary_of_what_changed(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    data = shared("stix20/unit42_hellokitty-ransomware.json").read_bytes()
    summary = upload(web, case, data)
    assert summary.status_code == 200
    html = summary.get_data(as_text=True)
    assert 'data-testid="conversion"' in html
    assert "Converted from STIX 2.0" in html
    assert "11 indicator object(s): their labels became indicator_types, as STIX 2.1 names them." in html
    assert "1 malware object(s) got is_family = false" in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    confirmed = web.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert confirmed.status_code == 302
    assert "converted from STIX 2.0" in web.get(confirmed.headers["Location"]).get_data(as_text=True)
    objects = {o["id"]: o for o in export(analyst, case).get_json()["objects"]}
    original = {o["id"]: o for o in json.loads(data)["objects"]}
    some = next(i for i, o in original.items() if o["type"] == "indicator")
    assert objects[some]["spec_version"] == "2.1"
    assert objects[some]["indicator_types"] == original[some]["labels"]
    attack = next(o for o in original.values() if o["type"] == "attack-pattern")
    assert objects[attack["id"]]["x_mitre_version"] == attack["x_mitre_version"]  # custom properties kept as named
    stix2.parse({"type": "bundle", "id": "bundle--3f1a4a28-6cf8-4f0b-a0a6-9b9b7c1f9c1e",
                 "objects": [objects[some]]}, allow_custom=True)


def test_a_stix20_bundle_through_the_api_reports_the_conversion(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    report = post_bundle(analyst, case, shared("stix20/misp_test_event1_stix20.json").read_bytes())
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert body["converted_from"] == "2.0"
    assert body["added"]["observed-data"] == 2
    assert body["added"]["domain-name"] == 1
    assert any("the observables embedded in them became 2 separate observable object(s)" in n
               for n in body["conversion"])
    bad = post_bundle(analyst, case, {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                                      "spec_version": "2.0", "objects": [
                                          {"type": "indicator", "id": "indicator--7e5a5b2e-3f8d-4c59-9a39-1b8a9b0c1d2e",
                                           "created": T, "modified": T, "labels": ["malicious-activity"],
                                           "pattern": "[file:hashes.MD5 = ", "valid_from": T}]})
    assert bad.status_code == 422
    error = bad.get_json()["error"]
    assert error["field"] == "objects[0]"
    assert error["message"].startswith("object 0 (indicator--7e5a5b2e-3f8d-4c59-9a39-1b8a9b0c1d2e) could not be "
                                       "converted from STIX 2.0")


def test_opencti_tlp_markings_are_mapped_to_tlp2_and_reported(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    bundle = opencti_export()
    web = login("analyst")
    html = upload(web, case, json.dumps(bundle).encode()).get_data(as_text=True)
    assert 'data-testid="markings-mapped"' in html
    assert "OpenCTI&#39;s form" in html
    assert re.search(rf"<code>{OPENCTI_AMBER_STRICT}</code>.*?TLP:AMBER\+STRICT <code>{TLP2_AMBER_STRICT}</code>",
                     html, re.DOTALL)
    assert "0 rejected" in html

    report = post_bundle(analyst, case, bundle)
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert body["rejected"] == []
    assert {(m["from"], m["tlp"], m["to"], m["references"]) for m in body["markings_mapped"]} == {
        (OPENCTI_AMBER_STRICT, "amber+strict", TLP2_AMBER_STRICT, 1), (TLP1_GREEN, "green", TLP2_GREEN, 1),
        (OPENCTI_CLEAR, "clear", TLP2_CLEAR, 1)}
    items = {i["value"]: i for i in analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["items"]}
    assert items["strict.evil.example"]["tlp"] == "amber+strict"
    assert items["strict.evil.example"]["stix"]["object_marking_refs"] == [TLP2_AMBER_STRICT]
    assert items["green.evil.example"]["tlp"] == "green"
    assert items["clear.evil.example"]["tlp"] == "clear"
    stored = {o["id"] for o in export(analyst, case).get_json()["objects"]}
    assert OPENCTI_AMBER_STRICT not in stored
    assert TLP2_AMBER_STRICT in stored


def test_misp_tlp_tags_and_bare_opencti_references_are_mapped(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    event = json.loads(shared("misp_test_event2_stix21.json").read_text())
    # MISP writes a tlp:amber+strict tag (no TLP 1.0 level) as a statement marking of its own
    misp_marking = {"type": "marking-definition", "spec_version": "2.1",
                    "id": "marking-definition--1b1b6a80-4cd8-4e22-8b0a-2a8c1cbd5f3c", "created": T,
                    "definition_type": "statement", "definition": {"statement": "tlp:amber+strict"}}
    for obj in event["objects"]:
        if obj["type"] == "indicator":
            obj["object_marking_refs"] = [misp_marking["id"]]
        elif obj["type"] == "grouping":
            obj["object_marking_refs"] = [OPENCTI_AMBER_STRICT]  # referenced without its definition
    event["objects"].append(misp_marking)
    report = post_bundle(analyst, case, event)
    assert report.status_code == 200, report.get_json()
    mapped = {m["from"]: m for m in report.get_json()["markings_mapped"]}
    assert mapped[misp_marking["id"]]["was"] == "a statement marking \"tlp:amber+strict\" (MISP's form of a TLP tag)"
    assert mapped[misp_marking["id"]]["references"] == 2
    assert mapped[OPENCTI_AMBER_STRICT]["tlp"] == "amber+strict"
    indicators = analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["items"]
    assert {i["tlp"] for i in indicators} == {"amber+strict"}
