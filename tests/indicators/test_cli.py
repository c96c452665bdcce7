"""`casemgr stix import FILE --case REF` and `casemgr stix export REF`."""

from __future__ import annotations

import json
import uuid

import stix2

from tests.indicators.conftest import add, bundle_of, indicator, shared


def test_import_with_progress_then_export(api, open_case, run_cli, tmp_path):
    analyst = api("analyst")
    case = open_case(analyst, tlp="green")
    add(analyst, case, "ipv4-addr", "203.0.113.7")
    result = run_cli("stix", "import", str(shared("apt1.json")), "--case", case["reference"])
    assert result.exit_code == 0, result.output
    assert f"{case['reference']}: 76 object(s) read, stored 76 (76 new" in result.output
    assert "indicator                12" in result.output
    assert "importing" in result.output  # the progress bar (on stderr, mixed in by the runner)
    out = tmp_path / "case.json"
    exported = run_cli("stix", "export", case["reference"].lower(), "-o", str(out))
    assert exported.exit_code == 0, exported.output
    bundle = json.loads(out.read_text())
    stix2.parse(bundle, allow_custom=True)
    assert {o["id"] for o in json.loads(shared("apt1.json").read_text())["objects"]} <= {
        o["id"] for o in bundle["objects"]}
    to_stdout = run_cli("stix", "export", case["reference"])
    assert json.loads(to_stdout.stdout)["type"] == "bundle"
    listing = analyst.get(f"/api/v1/cases/{case['id']}/indicators?per_page=100").get_json()
    assert listing["total"] == 13


def test_import_errors_are_one_line_with_an_exit_code(api, open_case, run_cli, tmp_path):
    analyst = api("analyst")
    case = open_case(analyst)
    missing_case = run_cli("stix", "import", str(shared("apt1.json")), "--case", "IR-1999-0001")
    assert missing_case.exit_code == 1
    assert "casemgr: error (reference): case IR-1999-0001 does not exist" in missing_case.stderr
    no_file = run_cli("stix", "import", str(tmp_path / "nope.json"), "--case", case["reference"])
    assert no_file.exit_code == 1
    assert "(FILE)" in no_file.stderr
    stix20 = run_cli("stix", "import", str(shared("stix20/unit42_hellokitty-ransomware.json")),
                     "--case", case["reference"], "--dry-run")
    assert stix20.exit_code == 0, stix20.stderr
    assert "converted: The bundle was STIX 2.0: its 56 object(s) were converted to STIX 2.1" in stix20.stdout
    assert "11 indicator object(s): their labels became indicator_types" in stix20.stdout
    unknown = tmp_path / "stix12.json"
    unknown.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "spec_version": "1.2",
                                   "objects": []}))
    refused = run_cli("stix", "import", str(unknown), "--case", case["reference"])
    assert refused.exit_code == 1
    assert "(spec_version): the bundle says spec_version '1.2'" in refused.stderr
    malformed = run_cli("stix", "import", str(shared("invalid/invalid_comma.json")), "--case", case["reference"])
    assert malformed.exit_code == 1
    assert "line 9" in malformed.stderr
    bad = tmp_path / "bad.json"
    bad_object = indicator("[file:name = ")
    bad.write_text(json.dumps(bundle_of(indicator("[file:name = 'ok.exe']"), bad_object)))
    rejected = run_cli("stix", "import", str(bad), "--case", case["reference"])
    assert rejected.exit_code == 1
    assert f"rejected object 1 {bad_object['id']}:" in rejected.stderr
    assert "nothing was imported" in rejected.stderr
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 0
    too_big = run_cli("stix", "import", str(bad), "--case", case["reference"], env={"CASEMGR_MAX_BUNDLE_BYTES": "100"})
    assert too_big.exit_code == 1
    assert "casemgr: error (bundle): the bundle is larger than the maximum of 100 bytes" in too_big.stderr
    partial = run_cli("stix", "import", str(bad), "--case", case["reference"], "--partial")
    assert partial.exit_code == 0
    assert "1 rejected" in partial.stdout
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 1


def test_dry_run_and_stdin(api, open_case, run_cli):
    analyst = api("analyst")
    case = open_case(analyst)
    data = shared("indicators-for-C2-with-COA.json").read_text()
    dry = run_cli("stix", "import", "-", "--case", case["reference"], "--dry-run", input=data)
    assert dry.exit_code == 0, dry.output
    assert "would store 8" in dry.stdout
    assert analyst.get(f"/api/v1/cases/{case['id']}/stix/objects").get_json()["total"] == 0
    real = run_cli("stix", "import", "-", "--case", case["reference"], input=data)
    assert "stored 8" in real.stdout


def test_export_errors(api, open_case, run_cli, tmp_path):
    analyst = api("analyst")
    case = open_case(analyst, tlp="red")
    add(analyst, case, "domain-name", "red.example.com")
    plain = json.loads(run_cli("stix", "export", case["reference"]).stdout)
    assert "indicator" not in {o["type"] for o in plain["objects"]}
    full = json.loads(run_cli("stix", "export", case["reference"], "--include-red").stdout)
    assert "indicator" in {o["type"] for o in full["objects"]}
    unwritable = run_cli("stix", "export", case["reference"], "-o", str(tmp_path / "no" / "dir" / "x.json"))
    assert unwritable.exit_code == 1
    assert "(--output)" in unwritable.stderr
    assert not (tmp_path / "no").exists()
