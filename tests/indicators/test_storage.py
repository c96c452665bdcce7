"""What is stored: the STIX JSON as received, the indexed columns, versions as history, one transaction."""

from __future__ import annotations

import json

import pytest
import stix2
from sqlalchemy import func, select

from casemgr.cases import service as cases
from casemgr.cases.models import Level
from casemgr.cases.schemas import NewCase
from casemgr.errors import Invalid
from casemgr.indicators import imports, rows, stix
from casemgr.indicators.bundle import BundleRejected
from casemgr.indicators.models import StixObject, StixObjectVersion
from tests.indicators.conftest import bundle_of, indicator


@pytest.fixture
def case(db, system):
    with db.transaction() as s:
        made = cases.create_case(s, system, NewCase(title="Storage", category="malicious-code", impact=Level.LOW,
                                                    urgency=Level.LOW, tlp="amber"))
        return made.id


def objects(db, case_id):
    with db.transaction() as s:
        return {o.stix_id: o for o in s.scalars(select(StixObject).where(StixObject.case_id == case_id))}


def test_the_json_is_kept_as_received_and_the_columns_are_extracted(db, system, case):
    received = indicator("[ipv4-addr:value = '198.51.100.0/24']", confidence=85, valid_until="2027-01-01T00:00:00Z",
                         object_marking_refs=[stix2.TLP_RED.id], x_vendor_score={"b": 2, "a": 1},
                         description="ünïcode ✓")
    with db.transaction() as s:
        imports.import_bundle(s, system, case, json.dumps(bundle_of(received)))
    row = objects(db, case)[received["id"]]
    assert json.loads(row.stix_json) == received
    assert list(json.loads(row.stix_json)) == list(received)  # key order kept
    assert (row.type, row.value_type, row.value) == ("indicator", "ipv4-addr", "198.51.100.0/24")
    assert row.value_digest == rows.value_digest("198.51.100.0/24")
    assert (row.ip_start, row.ip_end) == ("00000000000000000000ffffc6336400", "00000000000000000000ffffc63364ff")
    assert row.pattern == received["pattern"]
    assert row.confidence == 85
    assert row.tlp is stix.Tlp.RED  # the TLP 1.0 RED marking of the STIX 2.1 specification counts
    assert row.valid_from.isoformat() == "2026-01-01T00:00:00+00:00"
    assert row.valid_until.isoformat() == "2027-01-01T00:00:00+00:00"


def test_ipv6_ranges_sort_apart_from_ipv4(db, system, case):
    v6 = indicator("[ipv6-addr:value = '::ffff:0:0/96']")  # the IPv4-mapped block itself
    with db.transaction() as s:
        imports.import_bundle(s, system, case, json.dumps(bundle_of(v6)))
    row = objects(db, case)[v6["id"]]
    assert (row.ip_start, row.ip_end) == ("00000000000000000000ffff00000000", "00000000000000000000ffffffffffff")


def test_versions_newest_current_older_in_history(db, system, case):
    base = indicator("[file:name = 'a.exe']", modified="2026-01-02T00:00:00.000Z", name="two")
    older = {**base, "modified": "2026-01-01T00:00:00.000Z", "name": "one"}
    newer = {**base, "modified": "2026-01-03T00:00:00.000Z", "name": "three"}
    for version in (base, older, newer, older):
        with db.transaction() as s:
            imports.import_bundle(s, system, case, json.dumps(bundle_of(version)))
    row = objects(db, case)[base["id"]]
    assert json.loads(row.stix_json)["name"] == "three"
    with db.transaction() as s:
        history = s.scalars(select(StixObjectVersion).where(StixObjectVersion.object_id == row.id)
                            .order_by(StixObjectVersion.modified)).all()
        assert [json.loads(v.stix_json)["name"] for v in history] == ["one", "two"]


def test_a_rejected_bundle_leaves_nothing_behind(db, system, case):
    good = [indicator(f"[domain-name:value = 'ok{n}.example.com']") for n in range(imports.BATCH + 5)]
    bad = indicator("[domain-name:value = ")
    with pytest.raises(BundleRejected) as caught, db.transaction() as s:
        imports.import_bundle(s, system, case, json.dumps(bundle_of(*good, bad)))
    assert caught.value.details["rejected"][0]["index"] == len(good)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(StixObject)) == 0


def test_stix20_objects_before_stix21_ones_refuse_the_whole_bundle(db, system, case):
    old_style = {k: v for k, v in indicator("[file:name = 'x']").items() if k != "spec_version"}
    mixed = bundle_of(old_style, indicator("[file:name = 'y']"))
    with pytest.raises(Invalid, match="STIX 2.0 object in a bundle that also holds STIX 2.1"), db.transaction() as s:
        imports.import_bundle(s, system, case, json.dumps(mixed))


def test_progress_is_reported_in_batches(db, system, case):
    many = [indicator(f"[domain-name:value = 'p{n}.example.com']") for n in range(imports.BATCH * 2 + 1)]
    seen = []
    with db.transaction() as s:
        report = imports.import_bundle(s, system, case, json.dumps(bundle_of(*many)),
                                       progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(many), len(many))
    assert len(seen) >= 3
    assert report.added == {"indicator": len(many)}


@pytest.mark.parametrize("value", ["198.19.4.5", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255", "2001:db8:1::5",
                                   "2001:db8::/32", "::/0", "::ffff:1.2.3.4"])
def test_the_networks_holding_a_value_are_every_supernet(value):
    """The lookup's `ip_start` candidates (masked integers) are the first addresses of every supernet."""
    import ipaddress

    network = ipaddress.ip_network(value, strict=False)
    assert rows.holder_starts(network) == sorted(
        {rows.ip_hex(network.supernet(new_prefix=p).network_address) for p in range(network.prefixlen + 1)})
