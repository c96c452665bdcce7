"""CACAO 2.0 through the library: `casemgr playbook export --format cacao` and importing a .json file."""

from __future__ import annotations

import json

from casemgr.playbooks import cacao, loader


def test_the_shipped_phishing_playbook_goes_to_cacao_and_back(run_cli, tmp_path):
    imported = run_cli("playbook", "import", str(loader.SHIPPED / "phishing.yaml"))
    assert imported.output == "imported phishing 1.0.0 (new)\n", imported.output
    exported = run_cli("playbook", "export", "phishing", "--format", "cacao")
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.output)
    assert doc["type"] == "playbook"
    assert doc["spec_version"] == "cacao-2.0"
    assert cacao.validate(doc) == []  # against the OASIS schemas
    assert run_cli("playbook", "export", "phishing", "--format", "cacao").output == exported.output  # stable

    # The same playbook, imported from its CACAO form, is the same version: nothing new is stored.
    (tmp_path / "phishing.json").write_text(exported.output)
    again = run_cli("playbook", "import", str(tmp_path / "phishing.json"))
    assert again.output == "imported phishing 1.0.0 (unchanged)\n", again.output


def test_a_cacao_file_that_is_not_json_is_refused_and_nothing_is_stored(run_cli, tmp_path):
    (tmp_path / "broken.json").write_text("id: this is YAML, not JSON\n")
    refused = run_cli("playbook", "import", str(tmp_path / "broken.json"))
    assert refused.exit_code == 1
    assert "broken.json" in refused.output
    assert "JSON" in refused.output
    assert run_cli("playbook", "list").output == ""


def test_a_schema_invalid_cacao_file_is_refused_with_the_path(run_cli, tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"type": "playbook", "spec_version": "cacao-2.0"}))
    refused = run_cli("playbook", "import", str(tmp_path / "bad.json"))
    assert refused.exit_code == 1
    assert "bad.json" in refused.output
    assert "id" in refused.output
    assert run_cli("playbook", "list").output == ""
