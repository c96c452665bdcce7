"""The playbook library: versions imported, kept and compared; the current one; refusals that name the place."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.errors import Conflict, Forbidden
from casemgr.playbooks import library
from casemgr.playbooks.library import ImportPlaybook, PlaybookRefused
from casemgr.playbooks.models import Playbook, PlaybookVersion

FILES = Path(__file__).parent / "files" / "library"


def _text(name: str) -> str:
    return (FILES / name).read_text()


def _import(db, actor, text: str, name: str = "triage.yaml"):
    with db.transaction() as s:
        result = library.import_text(s, actor, ImportPlaybook(text, name), shared={})
        return result.version.version, result.created


def _current(db) -> str:
    with db.transaction() as s:
        pb = s.scalars(select(Playbook).where(Playbook.code == "lib-triage")).one()
        return pb.current_version.version


def test_import_new_then_unchanged_then_a_new_version_becomes_current_and_is_audited(db, system):
    assert _import(db, system, _text("triage-1.0.0.yaml")) == ("1.0.0", True)
    assert _import(db, system, _text("triage-1.0.0.yaml") + "\n# a comment changes nothing\n") == ("1.0.0", False)
    assert _import(db, system, _text("triage-1.1.0.yaml")) == ("1.1.0", True)
    assert _current(db) == "1.1.0"
    with db.transaction() as s:
        entries = [e.summary for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "playbook.import"))]
    assert [(e["id"], e["version"]) for e in entries] == [("lib-triage", "1.0.0"), ("lib-triage", "1.1.0")]
    assert all(len(e["hash"]) == 64 for e in entries)


def test_a_lower_version_imported_later_is_kept_but_not_current(db, system):
    _import(db, system, _text("triage-1.1.0.yaml"))
    assert _import(db, system, _text("triage-1.0.0.yaml")) == ("1.0.0", True)
    assert _current(db) == "1.1.0"
    with db.transaction() as s:
        assert sorted(s.scalars(select(PlaybookVersion.version))) == ["1.0.0", "1.1.0"]


def test_the_same_version_with_other_content_is_refused(db, system):
    _import(db, system, _text("triage-1.0.0.yaml"))
    changed = _text("triage-1.0.0.yaml").replace("Collect the report", "Collect the reports")
    with pytest.raises(Conflict, match="version 1.0.0 of lib-triage is already stored with other content; "
                                       "give the file a new version"):
        _import(db, system, changed)


def test_an_invalid_playbook_is_refused_with_file_line_and_field_and_nothing_is_stored(db, system):
    with pytest.raises(PlaybookRefused) as refused:
        _import(db, system, _text("broken.yaml"), "broken.yaml")
    assert refused.value.status == 422
    assert any(p.startswith("broken.yaml:8: steps[0].depends_on") for p in refused.value.problems), \
        refused.value.problems
    assert refused.value.to_dict()["problems"] == refused.value.problems
    with db.transaction() as s:
        assert s.scalars(select(Playbook)).first() is None


def test_diff_shows_the_changed_lines(db, system):
    _import(db, system, _text("triage-1.0.0.yaml"))
    _import(db, system, _text("triage-1.1.0.yaml"))
    with db.transaction() as s:
        lines = library.diff(s, system, "lib-triage", "1.0.0", "1.1.0")
    assert "-  title: Block the sender" in lines
    assert "+  title: Block the sender and the domain" in lines
    assert "-version: 1.0.0" in lines
    assert "+version: 1.1.0" in lines


def test_managers_set_the_current_version_and_retire_analysts_may_not_import(db, system, make_user):
    from casemgr.auth.actor import Actor

    _import(db, system, _text("triage-1.0.0.yaml"))
    _import(db, system, _text("triage-1.1.0.yaml"))
    analyst = Actor(user=make_user("analyst"), via="test")
    auditor = Actor(user=make_user("auditor"), via="test")
    with pytest.raises(Forbidden):
        _import(db, analyst, _text("triage-1.0.0.yaml"))
    with db.transaction() as s:
        assert [p.code for p in library.list_playbooks(s, auditor)] == ["lib-triage"]
        library.set_current(s, system, "lib-triage", "1.0.0")
    assert _current(db) == "1.0.0"
    with db.transaction() as s:
        library.retire(s, system, "lib-triage")
        assert library.list_playbooks(s, auditor) == []


def test_cli_imports_lists_shows_and_exports(run_cli, tmp_path):
    folder = tmp_path / "pbs"
    folder.mkdir()
    (folder / "triage.yaml").write_text(_text("triage-1.0.0.yaml"))
    assert run_cli("playbook", "import", str(folder)).output == "imported lib-triage 1.0.0 (new)\n"
    again = run_cli("playbook", "import", str(folder / "triage.yaml"))
    assert again.output == "imported lib-triage 1.0.0 (unchanged)\n"
    assert run_cli("playbook", "list").output == "lib-triage\t1.0.0\tLibrary triage\n"
    shown = run_cli("playbook", "show", "lib-triage").output
    assert "step contain [containment]: Block the sender" in shown
    exported = run_cli("playbook", "export", "lib-triage", "--format", "yaml").output
    assert exported.startswith("id: lib-triage\ntitle: Library triage\nversion: 1.0.0\n")
    (folder / "broken.yaml").write_text(_text("broken.yaml"))
    refused = run_cli("playbook", "import", str(folder / "broken.yaml"))
    assert refused.exit_code == 1
    assert "broken.yaml:8: steps[0].depends_on" in refused.output


def test_init_imports_the_shipped_playbooks_and_says_so(run_cli):
    from casemgr.playbooks import loader

    shipped = sorted(loader.SHIPPED.glob("*.yaml"))
    first = run_cli("init", "--no-admin")
    assert first.exit_code == 0, first.output
    assert f"shipped playbooks: {len(shipped)}, imported" in first.output
    again = run_cli("init", "--no-admin")
    assert f"shipped playbooks: {len(shipped)}, imported none (all stored already)" in again.output
