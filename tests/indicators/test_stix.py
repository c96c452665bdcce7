"""STIX objects built for cases: indicators, SCOs, sightings, incidents, identity, TLP 2.0 markings."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import stix2

from casemgr.errors import Invalid
from casemgr.indicators import stix
from casemgr.indicators.observables import ObservableType, normalize
from tests.conftest import IN_CI, SHARED_DATA

NOW = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
CASE = stix.CaseRef(id="0b7e2f6a-4d1c-4e7a-9a51-6f3c2d1e0f99", reference="IR-2026-0012", title="Phishing wave")
TLP2 = SHARED_DATA / "tlp2"


@pytest.fixture
def identity():
    return stix.organization_identity("ACME Corp")


def _parse(obj):
    """Strict stix2 parse of what we built (no custom content allowed)."""
    return stix2.parse(json.dumps(obj), allow_custom=False)


def test_tlp2_markings_equal_the_published_objects():
    if not TLP2.is_dir():
        message = f"shared TLP 2.0 data missing at {TLP2}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    published = {}
    for path in TLP2.glob("tlp-*.json"):
        (obj,) = json.loads(path.read_text())["objects"]
        published[obj["id"]] = obj
    ours = stix.tlp_markings()
    assert len(published) == 5
    assert {m["id"]: m for m in ours} == published
    assert [m["name"] for m in ours] == ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"]


def test_tlp_marking_is_a_copy_and_tlp_of_picks_the_highest():
    red = stix.tlp_marking("red")
    red["name"] = "changed"
    assert stix.tlp_marking(stix.Tlp.RED)["name"] == "TLP:RED"
    refs = [stix.tlp_marking("green")["id"], "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            stix.tlp_marking("amber+strict")["id"]]
    assert stix.tlp_of(refs) is stix.Tlp.AMBER_STRICT
    assert stix.tlp_of([]) is None
    with pytest.raises(ValueError, match="purple"):
        stix.tlp_marking("purple")


def test_organization_identity_is_deterministic(identity):
    again = stix.organization_identity("  ACME Corp ")
    assert again == identity
    assert stix.organization_identity("acme corp")["id"] == identity["id"]
    assert stix.organization_identity("Other Org")["id"] != identity["id"]
    assert identity["identity_class"] == "organization"
    _parse(identity)
    with pytest.raises(Invalid) as caught:
        stix.organization_identity("  ")
    assert caught.value.field == "organization_name"


@pytest.mark.parametrize("kind", list(ObservableType))
def test_indicator_and_observables_for_every_type_are_valid_stix(kind, identity):
    samples = {
        "ipv4-addr": "203.0.113.0/24", "ipv6-addr": "2001:db8::1", "domain-name": "evil.example.com",
        "url": "https://evil.example.com/a?b=c", "email-addr": "x@evil.example.com", "md5": "a" * 32,
        "sha1": "b" * 40, "sha256": "c" * 64, "sha512": "d" * 128, "file-name": "it's.exe",
        "windows-registry-key": "HKCU\\Software\\Evil", "user-account": "svc'o\\neil", "mutex": "Global\\m'x",
        "process-name": "evil.exe", "user-agent": "Evil/1.0 'quoted' \\back", "autonomous-system": "AS64500",
    }
    observable = normalize(kind, samples[kind.value])
    indicator = stix.build_indicator(observable=observable, identity_id=identity["id"], tlp="amber", now=NOW,
                                     confidence=80)
    parsed = _parse(indicator)
    assert parsed.pattern == observable.pattern
    assert indicator["pattern_type"] == "stix"
    assert indicator["valid_from"] == "2026-03-04T05:06:07.891Z"
    assert indicator["created"] == indicator["modified"] == "2026-03-04T05:06:07.891Z"
    assert indicator["indicator_types"] == ["malicious-activity"]
    assert indicator["confidence"] == 80
    assert indicator["created_by_ref"] == identity["id"]
    assert indicator["object_marking_refs"] == [stix.tlp_marking("amber")["id"]]
    scos = stix.build_observables(observable, tlp="amber")
    for sco in scos:
        _parse(sco)
        assert sco["object_marking_refs"] == [stix.tlp_marking("amber")["id"]]
    again = stix.build_observables(observable, tlp="amber")
    # Deterministic ids, except a process: it has no id-contributing property, so STIX 2.1 wants a UUIDv4.
    assert [o for o in again if o["type"] != "process"] == [o for o in scos if o["type"] != "process"]
    if kind is ObservableType.USER_AGENT:
        assert scos == []
    else:
        assert scos


def test_process_name_observables_are_a_file_and_a_process_running_it():
    file_sco, process = stix.build_observables(normalize("process-name", "evil.exe"), tlp="green")
    assert (file_sco["type"], file_sco["name"]) == ("file", "evil.exe")
    assert process["type"] == "process"
    assert process["image_ref"] == file_sco["id"]
    assert uuid.UUID(process["id"].removeprefix("process--")).version == 4


def test_indicator_from_a_raw_pattern(identity):
    raw = "  [ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [domain-name:value = 'evil.example.com']  "
    indicator = stix.build_indicator(pattern=raw, identity_id=identity["id"], tlp="clear", now=NOW)
    assert indicator["pattern"] == raw.strip()
    _parse(indicator)


@pytest.mark.parametrize(("raw", "line", "column", "text"), [
    ("[ipv4-addr:value = '1.2.3.4'", 1, 28, "missing ']'"),
    ("ipv4-addr:value = '1.2.3.4'", 1, 0, "mismatched input"),
    ("[ipv4-addr:value = 1.2.3.4]", 1, 22, "'.3'"),
    ("[ipv4-addr:value = '1.2.3.4'] AND\n[file:name = ]", 2, 13, "]"),
])
def test_a_bad_raw_pattern_is_refused_with_its_position(identity, raw, line, column, text):
    with pytest.raises(Invalid) as caught:
        stix.build_indicator(pattern=raw, identity_id=identity["id"], tlp="clear", now=NOW)
    error = caught.value
    assert error.field == "pattern"
    assert error.details["position"] == {"line": line, "column": column}
    assert f"line {line}, column {column}" in error.message
    assert text in error.message


def test_a_raw_pattern_with_a_bad_hash_is_refused_without_a_position():
    with pytest.raises(Invalid, match="'abc' is not a valid SHA-256 hash") as caught:
        stix.validate_pattern("[file:hashes.'SHA-256' = 'abc']")
    assert caught.value.field == "pattern"


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_an_empty_raw_pattern_is_refused(raw):
    with pytest.raises(Invalid, match="empty") as caught:
        stix.validate_pattern(raw)
    assert caught.value.field == "pattern"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"confidence": 101}, "confidence"),
    ({"confidence": -1}, "confidence"),
    ({"confidence": True}, "confidence"),
    ({"valid_until": NOW - timedelta(days=1)}, "valid_until"),
    ({"valid_until": NOW}, "valid_until"),
])
def test_indicator_bad_fields(identity, kwargs, field):
    with pytest.raises(Invalid) as caught:
        stix.build_indicator(observable=normalize("md5", "a" * 32), identity_id=identity["id"], tlp="red",
                             now=NOW, **kwargs)
    assert caught.value.field == field


def test_indicator_with_validity_window_and_description(identity):
    indicator = stix.build_indicator(
        observable=normalize("domain-name", "evil.example.com"), identity_id=identity["id"], tlp="green",
        now=NOW, valid_until=NOW + timedelta(days=30), description="C2 domain", name="C2",
        indicator_types=["malicious-activity", "attribution"])
    assert indicator["valid_until"] == "2026-04-03T05:06:07.891Z"
    assert (indicator["name"], indicator["description"]) == ("C2", "C2 domain")
    _parse(indicator)


def test_sighting_links_indicator_organization_and_case(identity):
    indicator = stix.build_indicator(observable=normalize("ipv4-addr", "203.0.113.5"), identity_id=identity["id"],
                                     tlp="amber", now=NOW)
    first = stix.build_sighting(indicator["id"], identity_id=identity["id"], case=CASE, tlp="amber", now=NOW,
                                first_seen=NOW - timedelta(hours=2))
    _parse(first)
    assert first["sighting_of_ref"] == indicator["id"]
    assert first["where_sighted_refs"] == [identity["id"]]
    assert first["count"] == 1
    assert first["first_seen"] == first["last_seen"] == "2026-03-04T03:06:07.891Z"
    assert first["external_references"] == [{"source_name": "casemgr", "external_id": "IR-2026-0012"}]
    later = NOW + timedelta(days=1)
    update = stix.build_sighting(indicator["id"], identity_id=identity["id"], case=CASE, tlp="amber", now=later,
                                 first_seen=NOW - timedelta(hours=2), last_seen=later, count=3, created=NOW)
    assert update["id"] == first["id"]
    assert update["created"] == first["created"]
    assert update["modified"] > first["modified"]
    assert update["count"] == 3
    other_case = stix.CaseRef(id="another", reference="IR-2026-0031")
    assert stix.build_sighting(indicator["id"], identity_id=identity["id"], case=other_case, tlp="amber", now=NOW,
                               first_seen=NOW)["id"] != first["id"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"count": -1}, "count"),
    ({"count": 1_000_000_000}, "count"),
    ({"last_seen": NOW - timedelta(days=2)}, "last_seen"),
])
def test_sighting_bad_fields(identity, kwargs, field):
    with pytest.raises(Invalid) as caught:
        stix.build_sighting("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", identity_id=identity["id"], case=CASE,
                            tlp="clear", now=NOW, first_seen=NOW - timedelta(days=1), **kwargs)
    assert caught.value.field == field


def test_incident_for_a_case_is_deterministic(identity):
    incident = stix.build_incident(CASE, identity_id=identity["id"], tlp="red", created=NOW, modified=NOW,
                                   description="Credential phishing")
    _parse(incident)
    assert incident["id"] == CASE.incident_id
    assert incident["name"] == "IR-2026-0012: Phishing wave"
    assert incident["external_references"] == [CASE.external_reference]
    assert incident["object_marking_refs"] == [stix.tlp_marking("red")["id"]]
    assert stix.build_incident(CASE, identity_id=identity["id"], tlp="red", created=NOW, modified=NOW,
                               description="Credential phishing") == incident


def test_relationship(identity):
    rel = stix.build_relationship("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "related-to", CASE.incident_id,
                                  identity_id=identity["id"], tlp="green", now=NOW)
    _parse(rel)
    assert (rel["relationship_type"], rel["target_ref"]) == ("related-to", CASE.incident_id)


def test_a_bundle_of_everything_we_build_parses_strictly(identity):
    observable = normalize("sha256", "e" * 64)
    indicator = stix.build_indicator(observable=observable, identity_id=identity["id"], tlp="amber+strict",
                                     now=NOW)
    objects = [identity, *stix.tlp_markings(), indicator, *stix.build_observables(observable, tlp="amber+strict"),
               stix.build_sighting(indicator["id"], identity_id=identity["id"], case=CASE, tlp="amber+strict",
                                   now=NOW, first_seen=NOW),
               stix.build_incident(CASE, identity_id=identity["id"], tlp="amber+strict", created=NOW, modified=NOW)]
    bundle = stix2.parse(json.dumps({"type": "bundle", "id": "bundle--6f0a3d86-8f63-4f5b-9d41-5c2ad7d3f8f0",
                                     "objects": objects}), allow_custom=False)
    assert len(bundle.objects) == len(objects)


def test_naive_datetimes_are_refused(identity):
    with pytest.raises(ValueError, match="time-zone-aware"):
        stix.build_indicator(observable=normalize("md5", "a" * 32), identity_id=identity["id"], tlp="red",
                             now=datetime(2026, 1, 1))  # noqa: DTZ001
