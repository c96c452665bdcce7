"""`casemgr playbook validate`: every problem as file:line: field: message, a summary, exit status 1."""

from __future__ import annotations

from pathlib import Path

FILES = Path(__file__).parent / "files"


def test_validate_a_folder_without_problems(run_cli):
    result = run_cli("playbook", "validate", str(FILES))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("1 playbook(s), 1 shared step(s): no problems")


def test_validate_reports_every_problem_with_its_line(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\ntitle: Bad\nversion: 1.0.0\nsteps:\n  - {id: a, title: A, phase: containment, "
                   "depends_on: [b]}\n  - {id: b, title: B, phase: containment, depends_on: [a]}\n"
                   "  - {id: c, title: C, phase: recovery, who: {permission: case.fly}}\n")
    result = run_cli("playbook", "validate", str(bad), str(FILES / "phishing-sample.yaml"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"{bad}:5: steps[0].depends_on: these steps depend on each other in a circle: a → b → a; none of them "
        "can ever become ready",
        f"{bad}:7: steps[2].who.permission: no permission 'case.fly'; the permissions are listed in "
        "docs/permissions.md (e.g. playbook.run, case.edit)",
    ]
    assert lines[2] == "2 playbook(s), 1 shared step(s): 2 problem(s)"  # the test database is the registry


def test_validate_checks_teams_against_the_database(run_cli, tmp_path):
    (tmp_path / "team.yaml").write_text("id: t\ntitle: T\nversion: 1.0.0\nsteps:\n  - {id: a, title: A, "
                                        "phase: containment, who: {team: Nobody's team}}\n")
    result = run_cli("playbook", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert "steps[0].who.team: no team \"Nobody's team\"" in result.stdout
    offline = run_cli("playbook", "validate", "--no-db", str(tmp_path))
    assert offline.exit_code == 0
    assert offline.stdout.strip() == ("1 playbook(s), 0 shared step(s): no problems (teams, incident roles, "
                                      "categories and custom fields not checked)")
