"""`casemgr evidence verify` and `casemgr evidence gc`."""

from __future__ import annotations

import os

from .conftest import stored_files, upload


def test_verify_prints_one_line_per_item_and_fails_naming_them(api, open_case, run_cli, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    good = upload(analyst, case["id"], b"good").get_json()
    bad = upload(analyst, case["id"], os.urandom(1000)).get_json()
    ok = run_cli("evidence", "verify", "--all")
    assert ok.exit_code == 0, ok.output
    assert f"OK     #{good['id']}" in ok.output
    assert "2 item(s) verified, 0 failed" in ok.output
    bad_path = next(settings.evidence_dir / f for f in stored_files(settings)
                    if (settings.evidence_dir / f).stat().st_size > 1000)
    data = bytearray(bad_path.read_bytes())
    data[100] ^= 0xFF
    bad_path.write_bytes(bytes(data))
    failed = run_cli("evidence", "verify", "--all")
    assert failed.exit_code == 1
    assert f"FAILED #{bad['id']}" in failed.output
    assert f"integrity failure in #{bad['id']}" in failed.output
    one = run_cli("evidence", "verify", str(good["id"]))
    assert one.exit_code == 0
    assert one.output.count("\n") == 2
    assert run_cli("evidence", "verify", "99999").exit_code == 1
    assert run_cli("evidence", "verify").exit_code == 2


def test_gc_lists_and_deletes_orphans(api, open_case, run_cli, settings):
    analyst = api("analyst")
    upload(analyst, open_case(analyst)["id"], b"kept")
    orphan = settings.evidence_dir / ("ab" * 16)
    orphan.write_bytes(b"left by a crash")
    temp = settings.evidence_dir / ".tmp-deadbeef"
    temp.write_bytes(b"partial")
    young = run_cli("evidence", "gc")
    assert young.exit_code == 0
    assert "orphan" not in young.output  # too young: it may be an upload about to commit
    listed = run_cli("evidence", "gc", "--min-age", "0")
    assert f"orphan {orphan}" in listed.output
    assert f"stale temporary file {temp}" in listed.output
    assert orphan.exists()
    deleted = run_cli("evidence", "gc", "--min-age", "0", "--delete")
    assert deleted.exit_code == 0
    assert "deleted 2 file(s)" in deleted.output
    assert not orphan.exists()
    assert not temp.exists()
    assert len(stored_files(settings)) == 1
    assert "is clean" in run_cli("evidence", "gc", "--min-age", "0").output
