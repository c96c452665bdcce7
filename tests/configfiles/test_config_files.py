"""Configuration as files (`casemgr config export|check|apply DIR`): the round trip, every kind of
problem reported with its file and line, apply all or nothing and audited, retiring a category."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casemgr.audit.models import AuditEntry
from casemgr.auth.models import Role
from tests.conftest import _wipe

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def _audit_count(db) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def people(make_user):
    def make() -> None:
        for name, role in (("mia", Role.MANAGER), ("bob", Role.ANALYST), ("ann", Role.ANALYST)):
            make_user(role, name)
    return make


NEW_CATEGORY = """\
- code: insider-threat
  name: Insider threat
  description: Harm done by someone inside the organization.
  retired: false
  subcategories:
  - code: data-theft
    name: Data theft
    description: ''
    retired: false
"""

def test_export_then_apply_to_a_fresh_instance_gives_the_same_files(run_cli, settings, people, make_team, tmp_path):
    people()
    make_team("CERT", lead="mia", members=["bob"], contact_email="cert@example.org", description="First line")
    make_team("Old SOC", members=["ann"])
    assert run_cli("team", "retire", "Old SOC").exit_code == 0
    seed = tmp_path / "seed"
    assert run_cli("config", "export", str(seed)).exit_code == 0
    # An admin adds a category, renames a subcategory, retires another and adds a role kind, in the files.
    (seed / "taxonomy.yaml").write_text((seed / "taxonomy.yaml").read_text() + NEW_CATEGORY)
    _edit(seed / "taxonomy.yaml", "name: Spam\n", "name: Spam and junk\n")
    _edit(seed / "taxonomy.yaml", "code: violence\n    name: Child sexual exploitation, sexual or violent content\n"
          "    description: Child sexual abuse material, glorification of violence and similar content.\n"
          "    retired: false", "code: violence\n    name: Child sexual exploitation, sexual or violent content\n"
          "    description: Child sexual abuse material, glorification of violence and similar content.\n"
          "    retired: true")
    (seed / "incident-roles.yaml").write_text((seed / "incident-roles.yaml").read_text()
                                              + "- code: forensics_lead\n  label: Forensics lead\n")
    applied = run_cli("config", "apply", str(seed))
    assert applied.exit_code == 0, applied.output
    assert "taxonomy: added category insider-threat (Insider threat)" in applied.output
    assert "taxonomy: changed subcategory abusive-content/spam: name" in applied.output
    assert "taxonomy: changed subcategory abusive-content/violence: retired" in applied.output
    assert "incident-roles: added forensics_lead (Forensics lead)" in applied.output

    exported = tmp_path / "exported"
    assert run_cli("config", "export", str(exported)).exit_code == 0
    _wipe(settings.database_url)  # a fresh install: the seeded taxonomy and role kinds, no teams
    people()
    to_fresh = run_cli("config", "apply", str(exported))
    assert to_fresh.exit_code == 0, to_fresh.output
    assert "teams: created team CERT" in to_fresh.output
    assert "teams: retired team Old SOC" in to_fresh.output
    again = tmp_path / "again"
    assert run_cli("config", "export", str(again)).exit_code == 0
    assert _files(again) == _files(exported)

    same = run_cli("config", "apply", str(again))
    assert same.exit_code == 0
    assert same.output.strip().endswith("nothing to change: the database already says what the files say")


def test_check_reports_every_problem_with_file_line_and_field(run_cli, db, people, tmp_path):
    people()
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "teams.yaml").write_text(
        "teams:\n"                      # 1
        "- name: CERT\n"                # 2
        "  lead: mia\n"                 # 3
        "  members:\n"                  # 4
        "  - mia\n"                     # 5
        "  - zed\n"                     # 6
        "- name: cert\n"                # 7  a duplicate: names are compared whatever their case
        "  members: [mia]\n"            # 8
        "- name: SOC\n"                 # 9
        "  colour: red\n"               # 10 an unknown key
        "  retired: 'no'\n")            # 11 a bad type
    (folder / "incident-roles.yaml").write_text("roles:\n- code: forensics_lead\n  label: Forensics\n"
                                                "  label: Forensics lead\n")
    (folder / "taxonomy.yaml").write_text("categories:\n- code: x\n  name: [unclosed\n")
    (folder / "notes.yaml").write_text("a: 1\n")
    before = _audit_count(db)

    result = run_cli("config", "check", str(folder))

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "incident-roles.yaml:4: roles[0].label: given twice in this item (first on line 3)" in lines
    assert ("notes.yaml: not a casemgr configuration file; the files are taxonomy.yaml, case-fields.yaml, "
            "roles.yaml, teams.yaml, incident-roles.yaml") in lines
    assert any(line.startswith("taxonomy.yaml:4: not valid YAML: while parsing a flow sequence") for line in lines)
    assert "teams.yaml:6: teams[0].members[1]: no user named 'zed'" in lines
    assert "teams.yaml:7: teams[1].name: 'cert' is given twice (also teams[0], line 2)" in lines
    assert ("teams.yaml:10: teams[2].colour: unknown key; the keys here are name, description, lead, members, "
            "contact_email, retired") in lines
    assert "teams.yaml:11: teams[2].retired: must be true or false" in lines
    assert lines[-1] == "casemgr: 7 problem(s); nothing was changed"
    assert _audit_count(db) == before
    assert run_cli("team", "list").output == ""


def test_problems_only_the_database_knows_of_are_reported_too(run_cli, people, make_team, tmp_path):
    people()
    make_team("Old SOC")
    run_cli("team", "retire", "Old SOC")
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "teams.yaml").write_text("teams:\n- name: CERT\n  lead: ann\n  members: [bob]\n"
                                       "- name: old soc\n  members: [ann, ann]\n")
    (folder / "taxonomy.yaml").write_text(
        "categories:\n- code: fraud\n  name: Fraud\n  subcategories:\n  - code: phishing\n    name: Phishing\n"
        "  - code: phishing\n    name: Phishing again\n  - code: Bad_Code\n    name: x\n")
    result = run_cli("config", "check", str(folder))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "teams.yaml:3: teams[0].lead: ann leads the team and must be listed in members too" in lines
    assert "teams.yaml:6: teams[1].members[1]: 'ann' is listed twice" in lines
    assert ("teams.yaml:5: teams[1].retired: team old soc is retired and cannot be brought back; write "
            "retired: true, or give the team a new name") in lines
    assert ("taxonomy.yaml:9: categories[0].subcategories[2].code: 'Bad_Code' is not in the accepted form "
            "(lower-case letters, digits and hyphens, e.g. malicious-code)") in lines
    # the duplicate subcategory is found once the item is valid: fix the bad code and check again
    _edit(folder / "taxonomy.yaml", "Bad_Code", "bad-code")
    lines = run_cli("config", "check", str(folder)).output.splitlines()
    assert ("taxonomy.yaml:7: categories[0].subcategories[1].code: subcategory 'phishing' is listed twice in fraud "
            "(also subcategories[0])") in lines


def test_check_tells_what_apply_would_change_and_changes_nothing(run_cli, db, tmp_path):
    folder = tmp_path / "conf"
    assert run_cli("config", "export", str(folder)).exit_code == 0
    (folder / "taxonomy.yaml").write_text((folder / "taxonomy.yaml").read_text() + NEW_CATEGORY)
    (folder / "teams.yaml").unlink()
    before = _audit_count(db)
    result = run_cli("config", "check", str(folder))
    assert result.exit_code == 0, result.output
    assert "would change: taxonomy: added category insider-threat (Insider threat)" in result.output
    assert "would change: taxonomy: added subcategory insider-threat/data-theft (Data theft)" in result.output
    assert "not in the folder, left alone: teams.yaml" in result.output
    assert _audit_count(db) == before
    assert "insider-threat" not in run_cli("config", "export", str(tmp_path / "after")).output
    assert "insider-threat" not in (tmp_path / "after" / "taxonomy.yaml").read_text()


def test_apply_is_all_or_nothing(run_cli, db, people, tmp_path):
    people()
    folder = tmp_path / "conf"
    assert run_cli("config", "export", str(folder)).exit_code == 0
    original = _files(folder)
    (folder / "taxonomy.yaml").write_text((folder / "taxonomy.yaml").read_text() + NEW_CATEGORY)
    (folder / "teams.yaml").write_text("teams:\n- name: CERT\n  members: [mia]\n- name: SOC\n  members: [nobody]\n")
    before = _audit_count(db)

    result = run_cli("config", "apply", str(folder))

    assert result.exit_code == 1
    assert "teams.yaml:5: teams[1].members[0]: no user named 'nobody'" in result.output
    assert "nothing was changed" in result.output
    assert _audit_count(db) == before
    run_cli("config", "export", str(tmp_path / "after"))
    assert _files(tmp_path / "after") == original


def test_apply_audits_each_change_naming_its_section_and_item(run_cli, db, people, tmp_path):
    people()
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "teams.yaml").write_text("teams:\n- name: CERT\n  lead: mia\n  members: [mia, bob]\n")
    (folder / "taxonomy.yaml").write_text("categories:\n- code: insider\n  name: Insider\n")
    assert run_cli("config", "apply", str(folder)).exit_code == 0
    with db.transaction() as s:
        entries = {(e.action, e.object_id): e.summary for e in s.scalars(select(AuditEntry))}
    assert ("team.create", entries_id := next(k[1] for k in entries if k[0] == "team.create")) in entries
    assert entries[("team.create", entries_id)]["name"] == "CERT"
    assert entries[("taxonomy.category_add", "insider")] == {"section": "taxonomy", "code": "insider",
                                                             "name": "Insider", "retired": False}
    summary = next(v for k, v in entries.items() if k[0] == "config.apply")
    assert summary["changes"] == ["taxonomy: added category insider (Insider)", "teams: created team CERT"]
    kept = run_cli("config", "check", str(folder))
    assert "kept as they are, not in the taxonomy file: category abusive-content" in kept.output


def test_a_retired_category_keeps_the_label_of_old_cases_and_cannot_be_chosen(run_cli, api, login, open_case,
                                                                              tmp_path):
    analyst = api("analyst")
    old = open_case(analyst, category="malicious-code", subcategory="ransomware")
    folder = tmp_path / "conf"
    run_cli("config", "export", str(folder))
    _edit(folder / "taxonomy.yaml", "  name: Malicious code\n  description: Software inserted in a system for a "
          "harmful purpose.\n  retired: false", "  name: Malicious code\n  description: Software inserted in a "
          "system for a harmful purpose.\n  retired: true")
    assert run_cli("config", "apply", str(folder)).exit_code == 0

    web = login("analyst")
    page = web.get(f"/cases/{old['id']}").get_data(as_text=True)
    assert "Malicious code / Ransomware" in page
    assert 'value="malicious-code"' not in web.get("/cases/new").get_data(as_text=True)
    refused = analyst.post("/api/v1/cases", json={"title": "New", "category": "malicious-code", "impact": "low",
                                                  "urgency": "low"})
    assert refused.status_code == 422
    assert "category: 'malicious-code' (Malicious code) is retired and cannot be chosen" in str(refused.get_json())
    edited = analyst.patch(f"/api/v1/cases/{old['id']}", json={"title": "Still ransomware", "version": old["version"]})
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["category"] == "malicious-code"
    taxonomy = analyst.get("/api/v1/taxonomy").get_json()
    assert next(c for c in taxonomy["categories"] if c["code"] == "malicious-code")["retired"] is True


def test_the_real_command_exports_checks_and_applies(cli_env, app, tmp_path):
    """`casemgr config` run as a program, with its exit statuses."""
    def casemgr(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **cli_env, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-c", "import sys; from casemgr.cli import main; "
                               "sys.argv[0] = 'casemgr'; main()", *args], capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    folder = tmp_path / "conf"
    exported = casemgr("config", "export", str(folder))
    assert exported.returncode == 0, exported.stderr
    assert f"wrote {folder / 'taxonomy.yaml'} (10 items)" in exported.stdout
    assert casemgr("config", "check", str(folder)).returncode == 0
    (folder / "teams.yaml").write_text("teams:\n- name: CERT\n  lead: nobody\n")
    checked = casemgr("config", "check", str(folder))
    assert checked.returncode == 1
    assert "teams.yaml:3: teams[0].lead: no user named 'nobody'" in checked.stderr
    applied = casemgr("config", "apply", str(folder))
    assert applied.returncode == 1
    assert "casemgr: 1 problem(s); nothing was changed" in applied.stderr
    missing = casemgr("config", "check", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "no such folder" in missing.stderr


def test_casemgr_taxonomy_list_shows_retired_codes_only_when_asked(run_cli, tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "taxonomy.yaml").write_text("categories:\n- code: insider\n  name: Insider\n  retired: true\n"
                                          "  subcategories:\n  - code: theft\n    name: Theft\n")
    assert run_cli("config", "apply", str(folder)).exit_code == 0
    listed = run_cli("taxonomy", "list").output
    assert "malicious-code/ransomware\tRansomware" in listed
    assert "insider" not in listed
    assert "insider\tInsider (retired)\n  insider/theft\tTheft\n" in run_cli("taxonomy", "list", "--retired").output


def test_role_kinds_are_relabelled_cleared_added_and_retired_from_the_file(run_cli, tmp_path):
    folder = tmp_path / "conf"
    assert run_cli("config", "export", str(folder)).exit_code == 0
    _edit(folder / "incident-roles.yaml", "label: Scribe\n  description: Keeps the timeline and the record of "
          "decisions.\n  retired: false", "label: Note taker\n  description: ''\n  retired: false")
    with (folder / "incident-roles.yaml").open("a") as f:
        f.write("- code: forensics_lead\n  label: Forensics lead\n  description: Runs the imaging\n  retired: true\n")
    applied = run_cli("config", "apply", str(folder))
    assert "incident-roles: changed scribe: label, description" in applied.output
    assert "forensics_lead" in applied.output
    assert run_cli("config", "apply", str(folder)).output.endswith("nothing to change: the database already says "
                                                                  "what the files say\n")
    run_cli("config", "export", str(tmp_path / "again"))
    exported = (tmp_path / "again" / "incident-roles.yaml").read_text()
    assert "- code: scribe\n  label: Note taker\n  description: ''\n  retired: false\n" in exported
    assert "- code: forensics_lead\n  label: Forensics lead\n  description: Runs the imaging\n  retired: true\n" \
        in exported


def test_a_built_in_role_kind_retired_in_the_file_is_a_problem_with_its_line(run_cli, tmp_path):
    folder = tmp_path / "conf"
    assert run_cli("config", "export", str(folder)).exit_code == 0
    _edit(folder / "incident-roles.yaml", "label: Scribe\n  description: Keeps the timeline and the record of "
          "decisions.\n  retired: false", "label: Scribe\n  description: Keeps the timeline and the record of "
          "decisions.\n  retired: true")
    checked = run_cli("config", "check", str(folder))
    assert checked.exit_code == 1
    assert "incident-roles.yaml:" in checked.output
    assert "built-in roles cannot be retired" in checked.output
    assert "nothing was changed" in run_cli("config", "apply", str(folder)).output


def test_a_taxonomy_change_shows_on_the_next_request_of_every_server_process(run_cli, login, tmp_path):
    """Each process reads the taxonomy once per request, never from a cache older than the request: a
    server that showed the form before the change offers the new category on its next request."""
    web = login("analyst")  # the app a server process would run, already serving
    assert 'value="insider"' not in web.get("/cases/new").get_data(as_text=True)
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "taxonomy.yaml").write_text("categories:\n- code: insider\n  name: Insider\n")
    assert run_cli("config", "apply", str(folder)).exit_code == 0  # another process changes it
    assert 'value="insider"' in web.get("/cases/new").get_data(as_text=True)


def test_custom_roles_go_through_the_files_and_their_problems_are_reported_by_line(run_cli, settings, tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "roles.yaml").write_text(
        "roles:\n"                              # 1
        "- code: tier-1\n"                      # 2
        "  name: Tier-1 analyst\n"              # 3
        "  permissions:\n"                      # 4
        "  - case.view\n"                       # 5
        "  - case.fly\n"                        # 6 not in the registry
        "  - case.view\n"                       # 7 twice
        "- code: analyst\n"                     # 8 a built-in role's code
        "  name: Mine\n")                       # 9
    checked = run_cli("config", "check", str(folder))
    assert checked.exit_code == 1
    assert "roles.yaml:6: roles[0].permissions[1]: no permission named 'case.fly'" in checked.output
    assert "roles.yaml:7: roles[0].permissions[2]: 'case.view' is listed twice" in checked.output
    assert "roles.yaml:8: roles[1].code: 'analyst' is a built-in role" in checked.output
    assert "nothing was changed" in run_cli("config", "apply", str(folder)).output
    assert "tier-1" not in run_cli("role", "list").output

    (folder / "roles.yaml").write_text("roles:\n- code: tier-1\n  name: Tier-1 analyst\n  description: First line\n"
                                       "  permissions: [case.view, case.create, case.edit]\n")
    applied = run_cli("config", "apply", str(folder))
    assert applied.exit_code == 0, applied.output
    assert "created role tier-1 (3 permissions)" in applied.output
    assert "Tier-1 analyst" in run_cli("role", "list").output
    exported = tmp_path / "exported"
    assert run_cli("config", "export", str(exported)).exit_code == 0
    text = (exported / "roles.yaml").read_text()
    assert "- code: tier-1\n  name: Tier-1 analyst\n  description: First line\n  permissions:\n" in text
    assert "  - case.create\n" in text
    assert "code: analyst" not in text  # built-in roles are fixed, not listed
    _edit(exported / "roles.yaml", "  - case.edit\n", "")
    changed = run_cli("config", "apply", str(exported))
    assert "updated role tier-1 -case.edit" in changed.output
    assert run_cli("config", "apply", str(exported)).output.strip().endswith(
        "nothing to change: the database already says what the files say")


def test_custom_fields_go_through_the_files(run_cli, tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "case-fields.yaml").write_text(
        "fields:\n"                                   # 1
        "- code: backup_status\n"                     # 2
        "  label: Backup status\n"                    # 3
        "  type: choice\n"                            # 4
        "  category: malicious-code\n"                # 5
        "  required: true\n"                          # 6
        "  required_from: containment\n"              # 7
        "  options: [intact, encrypted, none]\n"      # 8
        "- code: ticket\n"                            # 9
        "  label: Ticket\n"                           # 10
        "  type: colour\n")                           # 11 not a type
    checked = run_cli("config", "check", str(folder))
    assert checked.exit_code == 1
    assert "case-fields.yaml:11: fields[1].type:" in checked.output
    (folder / "case-fields.yaml").write_text(
        (folder / "case-fields.yaml").read_text().replace("type: colour", "type: choice"))
    refused = run_cli("config", "check", str(folder))  # a choice field with no options: the service refuses
    assert refused.exit_code == 1
    assert "case-fields.yaml:9: fields[1].options: a choice field needs at least one option" in refused.output
    (folder / "case-fields.yaml").write_text(
        (folder / "case-fields.yaml").read_text().replace("type: choice\n", "type: text\n", 2)
        .replace("  type: text\n  category", "  type: choice\n  category", 1))
    applied = run_cli("config", "apply", str(folder))
    assert applied.exit_code == 0, applied.output
    assert "case-fields: created custom field backup_status" in applied.output
    assert "case-fields: created custom field ticket" in applied.output
    exported = tmp_path / "exported"
    assert run_cli("config", "export", str(exported)).exit_code == 0
    text = (exported / "case-fields.yaml").read_text()
    assert "- code: backup_status\n  label: Backup status\n  type: choice\n" in text
    assert "required_from: containment\n" in text
    assert run_cli("config", "apply", str(exported)).output.strip().endswith(
        "nothing to change: the database already says what the files say")
