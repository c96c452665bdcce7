"""Reading incoming bundles: the real bundles in shared data, STIX 2.0, non-bundles, invalid objects, dedupe keys."""

from __future__ import annotations

import copy
import json

import pytest

from casemgr.indicators import bundle as stix_bundle
from casemgr.indicators.bundle import (
    BundleRejected,
    MalformedJson,
    NotABundle,
    UnsupportedStixVersion,
    check_bundle,
    check_objects,
    read_bundle,
)
from tests.conftest import IN_CI
from tests.indicators.conftest import ACCEPTED, STIX_DIR, T, bundle_of, indicator, shared

STIX = STIX_DIR
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"




@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_real_stix21_bundles_are_accepted(name):
    data = shared(name).read_bytes()
    report = check_bundle(read_bundle(data))
    assert report.rejected == []
    assert dict(report.accepted) == ACCEPTED[name]
    assert report.bundle_id == json.loads(data)["id"]


def test_every_shared_stix_file_is_covered():
    if not STIX.is_dir():
        message = f"shared STIX data missing at {STIX}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    covered = set(ACCEPTED) | set(REFUSED) | set(CONVERTED)
    assert {str(p.relative_to(STIX)) for p in STIX.rglob("*.json")} == covered


REFUSED = {
    "invalid/invalid_comma.json": (MalformedJson, 400, "not valid JSON: Expecting property name enclosed in double "
                                                       "quotes (line 9, column 1)"),
    "invalid/invalid_identity.json": (NotABundle, 422, "a single 'identity' object, not a STIX bundle"),
    "sco-examples-array.json": (NotABundle, 422, "the JSON is a list, not a STIX bundle"),
}
# STIX 2.0 bundles, converted to 2.1 as they are read (casemgr/indicators/convert.py), then accepted whole.
CONVERTED = {
    "stix20/misp_test_event1_stix20.json": {"autonomous-system": 1, "domain-name": 1, "identity": 1, "indicator": 1,
                                            "observed-data": 2, "relationship": 1, "report": 2},
    "stix20/unit42_hellokitty-ransomware.json": {"attack-pattern": 2, "campaign": 1, "course-of-action": 1,
                                                 "identity": 1, "indicator": 11, "intrusion-set": 1, "malware": 1,
                                                 "relationship": 36, "report": 2},
}


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_stix20_bundles_are_read_as_converted_stix21(name):
    converted = read_bundle(shared(name).read_bytes())
    assert "spec_version" not in converted
    assert all(o.get("spec_version") == "2.1" for o in converted["objects"] if "created" in o)
    report = check_bundle(converted)
    assert report.rejected == []
    assert dict(report.accepted) == CONVERTED[name]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_shared_files_are_refused_with_a_precise_reason(name):
    error_type, status, message = REFUSED[name]
    with pytest.raises(error_type) as caught:
        read_bundle(shared(name).read_bytes())
    assert caught.value.status == status
    assert message in caught.value.message


def test_malformed_json_names_the_line():
    with pytest.raises(MalformedJson) as caught:
        read_bundle(b'{"type": "bundle",\n "objects": [}')
    assert caught.value.line == 2
    assert caught.value.to_dict()["code"] == "malformed_json"


def test_json_nested_too_deeply_is_malformed():
    with pytest.raises(MalformedJson, match="too deeply") as caught:
        read_bundle(b'{"type": "bundle", "objects": ' + b"[" * 100_000)
    assert caught.value.status == 400


def test_non_utf8_upload_is_malformed():
    with pytest.raises(MalformedJson, match="not UTF-8"):
        read_bundle(b'{"type": "bundle", "id": "\xff"}')


@pytest.mark.parametrize(("data", "message"), [
    ('"just a string"', "the JSON is a str"),
    ("42", "the JSON is a int"),
    ('{"objects": []}', "an object without a STIX type"),
    ('{"type": "bundle", "objects": []}', 'no valid "id"'),
    ('{"type": "bundle", "id": "bundle--6f0a3d86-8f63-4f5b-9d41-5c2ad7d3f8f0", "objects": {}}', "not a list"),
])
def test_non_bundle_json_is_refused(data, message):
    with pytest.raises(NotABundle, match=message):
        read_bundle(data)


def test_the_invalid_identity_is_rejected_inside_a_bundle():
    """The identity lacks `modified`, which stix2 would silently fill in."""
    obj = json.loads(shared("invalid/invalid_identity.json").read_text())
    report = check_bundle(bundle_of(obj))
    assert [r.to_dict() for r in report.rejected] == [
        {"index": 0, "id": obj["id"], "reason": "missing required property modified"}]


def test_an_indicator_without_valid_from_is_rejected_not_dated_now():
    """stix2 would fill in valid_from with the current time; STIX 2.1 requires the producer's."""
    obj = indicator("[ipv4-addr:value = '203.0.113.9']")
    del obj["valid_from"]
    report = check_bundle(bundle_of(obj))
    assert [r.to_dict() for r in report.rejected] == [
        {"index": 0, "id": obj["id"], "reason": "missing required property valid_from"}]


def test_sco_examples_wrapped_in_a_bundle_are_all_accepted_with_dedupe_keys():
    scos = json.loads(shared("sco-examples-array.json").read_text())
    checked = list(check_objects(bundle_of(*scos)))
    assert [c.rejection for c in checked if not c.ok] == []
    keys = {c.dedupe_key for c in checked if c.dedupe_key}
    assert ("ipv4-addr", "198.51.100.3") in keys
    assert any(kind == "windows-registry-key" for kind, _ in keys)
    assert any(kind == "autonomous-system" for kind, _ in keys)


def test_stix20_objects_without_a_bundle_version_are_converted_too():
    data = json.loads(shared("stix20/unit42_hellokitty-ransomware.json").read_text())
    del data["spec_version"]
    report = check_bundle(read_bundle(json.dumps(data)))
    assert report.rejected == []
    assert report.accepted["indicator"] == 11


def test_a_mixed_bundle_with_stix20_objects_first_is_refused_naming_the_object():
    old = {k: v for k, v in indicator("[ipv4-addr:value = '203.0.113.2']").items() if k != "spec_version"}
    with pytest.raises(UnsupportedStixVersion, match="object 0 .* has no spec_version: it is a STIX 2.0 object"):
        check_bundle(read_bundle(json.dumps(bundle_of(old, indicator("[ipv4-addr:value = '203.0.113.1']")))))


def test_a_stray_20_object_in_a_21_bundle_is_rejected_alone():
    good = indicator("[ipv4-addr:value = '203.0.113.1']")
    old = {k: v for k, v in indicator("[ipv4-addr:value = '203.0.113.2']").items() if k != "spec_version"}
    report = check_bundle(bundle_of(good, old))
    assert report.accepted == {"indicator": 1}
    assert [(r.index, r.id) for r in report.rejected] == [(1, old["id"])]
    assert "STIX 2.0 object" in report.rejected[0].reason


INVALID_OBJECTS = [
    ("not an object", "not a JSON object but a str"),
    ({"id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, 'no "type"'),
    ({"type": "indicator"}, 'no "id"'),
    ({**indicator("[ipv4-addr:value = '1.2.3.4']"), "id": "indicator--nope"}, "not of the form indicator--<uuid>"),
    ({**indicator("[ipv4-addr:value = '1.2.3.4']"), "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"},
     "not of the form indicator--<uuid>"),
    ({**indicator("[ipv4-addr:value = '1.2.3.4']"), "spec_version": "2.2"}, "spec_version '2.2'"),
    (indicator("[ipv4-addr:value = '1.2.3.4'"), "pattern"),
    (indicator("[ipv4-addr:value = '1.2.3.4'] AND"), "pattern"),
    (indicator(f"[file:hashes.'SHA-256' = '{SHA256[:-1]}']"), "is not a valid SHA-256 hash"),
    (indicator(f"[file:hashes.'SHA-256' = '{SHA256}']", valid_until="2020-01-01T00:00:00Z"),
     "'valid_until' must be greater than 'valid_from'"),
    (indicator("[ipv4-addr:value = '1.2.3.4']", valid_until="2020-01-01T00:00:00Z"),
     "'valid_until' must be greater than 'valid_from'"),
    (indicator("[ipv4-addr:value = '1.2.3.4']", confidence="high"), "confidence"),
    (indicator("[ipv4-addr:value = '1.2.3.4']", created="yesterday"), "created"),
    ({k: v for k, v in indicator("[ipv4-addr:value = '1.2.3.4']").items() if k != "pattern_type"}, "pattern_type"),
    ({"type": "indicater", "spec_version": "2.1", "id": "indicater--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"},
     "unknown object type 'indicater'"),
    ({"type": "ipv4-addr", "id": "ipv4-addr--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "value"),
    ({"type": "relationship", "spec_version": "2.1", "id": "relationship--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
      "created": T, "modified": T, "relationship_type": "indicates", "source_ref": "not-a-ref",
      "target_ref": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "source_ref"),
]


@pytest.mark.parametrize(("obj", "reason"), INVALID_OBJECTS)
def test_invalid_objects_are_reported_with_index_id_and_reason(obj, reason):
    good = indicator("[domain-name:value = 'evil.example.com']")
    report = check_bundle(bundle_of(good, obj))
    assert report.accepted == {"indicator": 1}
    (rejected,) = report.rejected
    assert rejected.index == 1
    assert rejected.id == (obj.get("id") if isinstance(obj, dict) else None)
    assert reason in rejected.reason
    with pytest.raises(BundleRejected) as caught:
        report.raise_if_rejected()
    assert caught.value.status == 422
    assert caught.value.details["rejected"] == [rejected.to_dict()]
    assert "partial=true" in caught.value.message


def test_custom_properties_and_custom_objects_are_kept():
    custom_props = indicator("[ipv4-addr:value = '203.0.113.9']", x_acme_source="sensor-7")
    custom_object = {"type": "x-acme-ticket", "spec_version": "2.1",
                     "id": "x-acme-ticket--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "number": 42}
    report = check_bundle(bundle_of(custom_props, custom_object))
    assert report.ok
    assert report.accepted == {"indicator": 1, "x-acme-ticket": 1}
    assert report.to_dict()["rejected"] == []


def test_objects_are_yielded_unchanged_and_uncopied():
    objects = [indicator("[ipv4-addr:value = '203.0.113.9']"), indicator("[ipv4-addr:value = '10.0.0.0/8'] OR "
                                                                         "[ipv4-addr:value = '10.0.0.1']")]
    data = bundle_of(*objects)
    before = copy.deepcopy(data)
    checked = list(check_objects(data))
    assert [c.obj for c in checked] == objects
    assert all(c.obj is o for c, o in zip(checked, objects, strict=True))
    assert data == before  # stix2 added pattern_version etc. to its own copy only


@pytest.mark.parametrize(("pattern", "key"), [
    ("[ipv4-addr:value = '203.0.113.9']", ("ipv4-addr", "203.0.113.9")),
    ("[domain-name:value = 'EVIL.Example.COM']", ("domain-name", "evil.example.com")),
    (f"[file:hashes.'SHA-256' = '{SHA256.upper()}']", ("sha256", SHA256)),
    ("[mutex:name = 'it\\'s']", ("mutex", "it's")),
    ("[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '5.6.7.8']", None),
])
def test_dedupe_key_of_an_indicator(pattern, key):
    (checked,) = check_objects(bundle_of(indicator(pattern)))
    assert checked.ok
    assert checked.dedupe_key == key


def test_dedupe_key_of_scos():
    file_sco = {"type": "file", "spec_version": "2.1", "id": "file--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "name": "evil.exe", "hashes": {"SHA-256": SHA256.upper(), "MD5": "d41d8cd98f00b204e9800998ecf8427e"}}
    (checked,) = check_objects(bundle_of(file_sco))
    assert [(o.type.value, o.value) for o in checked.observables] == [
        ("sha256", SHA256), ("md5", "d41d8cd98f00b204e9800998ecf8427e"), ("file-name", "evil.exe")]
    assert checked.dedupe_key == ("sha256", SHA256)


def test_same_verdicts_with_and_without_the_fast_pattern_path():
    """Every indicator in the shared bundles gets the same verdict as stix2's own full validation."""
    import stix2

    for name in ACCEPTED:
        data = json.loads(shared(name).read_text())
        for obj in data["objects"]:
            if obj["type"] == "indicator":
                stix2.parse(obj, allow_custom=True, version="2.1")  # raises if stix2 disagrees
                assert stix_bundle.check_object(0, obj).ok
