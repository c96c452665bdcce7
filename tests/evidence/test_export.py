"""The export package verifies with the commands its README documents (sha256sum, openssl, Python)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile

from .conftest import upload


def test_export_package_verifies_with_the_documented_commands(api, open_case, run_cli, tmp_path, settings):
    analyst, manager = api("analyst"), api("manager")
    case = open_case(analyst)
    files = {"memory dump.raw": b"\x00\x01" * 70_000, "Отчёт.txt": "журнал\n".encode(), "empty.log": b""}
    items = {name: upload(analyst, case["id"], data, name).get_json() for name, data in files.items()}
    disposed = upload(analyst, case["id"], b"gone").get_json()
    manager.post(f"/api/v1/evidence/{disposed['id']}/dispose", json={"reason": "retention period ended"})

    out = tmp_path / "package.zip"
    result = run_cli("evidence", "export", case["reference"], "-o", str(out))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
    for name, data in files.items():
        assert (folder / "files" / f"{items[name]['id']}-{name}").read_bytes() == data

    readme = (folder / "README.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in readme
    openssl = "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile manifest.sig"
    assert openssl in readme
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], check=False, cwd=folder, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert sums.stdout.count(": OK") == 3
    signature = subprocess.run(openssl.split(), check=False, cwd=folder, capture_output=True, text=True)
    assert signature.returncode == 0, signature.stderr
    assert "Signature Verified Successfully" in signature.stdout
    snippet = "\n".join(line.strip() for line in readme.splitlines()
                        if line.strip().startswith(("from cryptography", "key =", "key.verify")))
    assert len(snippet.splitlines()) == 3
    assert subprocess.run(["python3", "-c", snippet], check=False, cwd=folder).returncode == 0
    assert run_cli("keys", "public").output == (folder / "pub.pem").read_text()

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["case"]["reference"] == case["reference"]
    by_id = {i["id"]: i for i in manifest["items"]}
    for name, data in files.items():
        entry = by_id[items[name]["id"]]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
        assert entry["custody_chain_valid"] is True
        assert [e["kind"] for e in entry["custody"]] == ["acquired", "received", "exported"]
        # uploaded with the fixture's operator-issued token, exported at the CLI without one
        assert [e["token_issued_by"] for e in entry["custody"]] == ["test", "test", None]
    assert by_id[disposed["id"]]["file"] is None
    assert "Item #" in (folder / "manifest.txt").read_text()

    # Altering the manifest breaks the signature; altering a file breaks its hash.
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text().replace("memory", "mem0ry"))
    assert subprocess.run(openssl.split(), check=False, cwd=folder, capture_output=True).returncode != 0
    victim = folder / "files" / f"{items['Отчёт.txt']['id']}-Отчёт.txt"
    victim.write_bytes(b"changed")
    tampered = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], check=False, cwd=folder, capture_output=True)
    assert tampered.returncode != 0

    custody = analyst.get(f"/api/v1/evidence/{items['empty.log']['id']}/custody").get_json()
    assert custody["events"][-1]["kind"] == "exported"
    assert custody["chain_valid"] is True


def test_export_through_the_ui_is_for_managers(login, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    upload(analyst, case["id"], b"pcap")
    assert login("analyst").post(f"/cases/{case['id']}/evidence/export").status_code == 403
    response = login("manager").post(f"/cases/{case['id']}/evidence/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert {"manifest.json", "manifest.sig", "pub.pem", "SHA256SUMS", "README.txt"} <= set(archive.namelist())


def test_export_refuses_an_existing_file_and_unknown_case(run_cli, tmp_path):
    existing = tmp_path / "x.zip"
    existing.write_bytes(b"")
    assert run_cli("evidence", "export", "IR-2000-0001", "-o", str(tmp_path / "y.zip")).exit_code == 1
    assert run_cli("evidence", "export", "IR-2000-0001", "-o", str(existing)).exit_code != 0
