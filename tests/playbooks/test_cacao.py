"""CACAO 2.0: export validating against the OASIS schemas, import of real files, precise refusals, round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from casemgr.playbooks import cacao, definition, loader

# The OASIS examples beside the repository (../shared/data, as cacao.py finds its schemas).
EXAMPLES = next(p / "shared" / "data" / "cacao-examples" for p in Path(__file__).resolve().parents
                if (p / "shared" / "data" / "cacao-examples").is_dir())


def playbook(steps: list[dict[str, Any]]) -> definition.Playbook:
    return definition.Playbook.model_validate({"id": "phish-test", "title": "Phishing test", "version": "1.2.0",
                                               "description": "A test playbook", "categories": ["phishing"],
                                               "steps": steps})


SMALL = playbook([
    {"id": "triage", "title": "Triage the report", "phase": "identification", "instructions": "Read the *mail*."},
    {"id": "block", "title": "Block the sender", "phase": "containment", "depends_on": ["triage"]},
])
BRANCHING = playbook([
    {"id": "triage", "title": "Triage", "phase": "identification", "who": {"permission": "case.edit"},
     "inputs": [{"id": "clicked", "label": "Did anyone click?", "type": "boolean"}]},
    {"id": "reset", "title": "Reset credentials", "phase": "containment", "depends_on": ["triage"],
     "condition": "triage.clicked == true", "actions": [{"timeline": "Credentials reset"}]},
    {"id": "purge", "title": "Purge the mail", "phase": "eradication", "depends_on": ["triage"]},
    {"id": "report", "title": "Report", "phase": "post-incident", "depends_on": ["reset", "purge"]},
])


def strip_extension(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc.pop("playbook_extensions")
    for step in doc["workflow"].values():
        step.pop("step_extensions", None)
    return doc


def steps_of(pb: definition.Playbook) -> list[tuple[str, list[str], str | None]]:
    return [(s.id, s.depends_on, s.condition) for s in pb.steps]


@pytest.mark.parametrize("pb", [SMALL, BRANCHING], ids=["small", "branching"])
def test_export_validates_against_the_oasis_schemas(pb: definition.Playbook) -> None:
    doc = cacao.to_cacao(pb)
    assert cacao.validate(doc) == []
    assert (doc["type"], doc["spec_version"], doc["revoked"]) == ("playbook", "cacao-2.0", False)
    assert doc["id"] == cacao.to_cacao(pb)["id"]  # stable
    starts = [s for s in doc["workflow"].values() if s["type"] == "start"]
    assert len(starts) == 1
    assert doc["workflow"][doc["workflow_start"]]["type"] == "start"


def test_export_of_a_branching_playbook_is_a_cacao_graph() -> None:
    doc = cacao.to_cacao(BRANCHING)
    kinds = sorted(s["type"] for s in doc["workflow"].values())
    assert kinds == ["action"] * 4 + ["end", "if-condition", "parallel", "start"]
    condition = next(s for s in doc["workflow"].values() if s["type"] == "if-condition")
    assert condition["condition"] == "triage.clicked == true"
    assert doc["workflow"][condition["on_true"]]["name"] == "Reset credentials"
    parallel = next(s for s in doc["workflow"].values() if s["type"] == "parallel")
    assert len(parallel["next_steps"]) == 2
    assert doc["playbook_types"] == ["investigation", "mitigation", "notification", "remediation"]
    assert doc["created"] == doc["modified"] == cacao.DEFAULT_TIME


def test_a_schema_error_names_its_json_path() -> None:
    doc = cacao.to_cacao(SMALL)
    action = next(k for k, s in doc["workflow"].items() if s["type"] == "action")
    doc["workflow"][action]["commands"] = []
    doc["workflow"][action]["delay"] = 0
    problems = cacao.validate(doc)
    assert f"workflow.{action}.commands: [] should be non-empty" in problems, problems
    assert f"workflow.{action}.delay: 0 is less than the minimum of 1" in problems, problems


@pytest.mark.parametrize("pb", [SMALL, BRANCHING], ids=["small", "branching"])
def test_round_trip_is_exact(pb: definition.Playbook) -> None:
    doc = cacao.to_cacao(pb, created="2026-01-02T03:04:05.000Z")
    back = cacao.from_cacao(json.dumps(doc))
    assert back == pb
    assert cacao.to_cacao(back, created="2026-01-02T03:04:05.000Z") == doc


def test_without_our_extension_the_graph_is_translated() -> None:
    back = cacao.from_cacao(strip_extension(cacao.to_cacao(BRANCHING)))
    assert steps_of(back) == [
        ("triage", [], None),
        ("purge_the_mail", ["triage"], None),
        ("does_reset_apply", ["triage"], None),
        ("reset_credentials", ["does_reset_apply"], "does_reset_apply.holds == true"),
        ("report", ["does_reset_apply", "purge_the_mail", "reset_credentials"], None),
    ]
    assert back.step("does_reset_apply").inputs[0].type is definition.InputType.BOOLEAN  # type: ignore[union-attr]
    _, problems = loader.load_text(json.dumps(back.canonical()), "x.json", {})
    assert problems == []


EXPECTED = {
    "oasis_basic-example-1.json": [("block_mac_address", [], None)],
    "oasis_spec-3.1-example.json": [("ip_lookup", [], None)],
    "soarca_http-playbook.json": [("get", [], None)],
    "soarca_manual-playbook.json": [("manual", [], None)],
    "soarca_parallels_playbook.json": [("bia_for_cve", [], None)],
    "soarca_ssh-playbook.json": [("execute_command", [], None), ("touch_file", ["execute_command"], None)],
}


def test_every_valid_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_import_of_the_valid_examples(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert cacao.validate(json.loads(text)) == []
    pb = cacao.from_cacao(text)
    assert steps_of(pb) == EXPECTED[name]
    assert pb.title == json.loads(text)["name"]
    _, problems = loader.load_text(json.dumps(pb.canonical()), name, {})
    assert problems == []


def test_imported_commands_become_instructions() -> None:
    pb = cacao.from_cacao((EXAMPLES / "soarca_ssh-playbook.json").read_text(encoding="utf-8"))
    assert "ssh command:" in pb.steps[0].instructions


INVALID = {
    "soarca-gui_external-vars-incident-response.json":
        "workflow.start--a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c50.on_completion: "
        "'action--c3d4e5f6-a7b8-4c9d-0e1f-2a3b4c5d6e70' does not match",
    "soarca_invalid_playbook.json":
        "agent_definitions.http-api--7e9174ec-a293-43df-a72d-471c79e276bf.type: 'invalid' is not one of",
    "soarca_missing_step_playbook.json":
        "workflow.action--2190f685-1857-44ac-ad0e-0ded6c6ef3ce.on_completion: "
        "'end--6b23c237-ade8-4d00-9aa1-75999738d558' is not a step of the workflow",
}


def test_every_invalid_example_is_listed() -> None:
    assert sorted(p.name for p in (EXAMPLES / "invalid").glob("*.json")) == sorted(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_examples_are_refused_naming_the_path(name: str) -> None:
    with pytest.raises(cacao.CacaoRefused) as refused:
        cacao.from_cacao((EXAMPLES / "invalid" / name).read_text(encoding="utf-8"))
    assert any(p.startswith(INVALID[name]) for p in refused.value.problems), refused.value.problems


def test_a_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(cacao.CacaoRefused, match="not JSON: Expecting value: line 1 column 1"):
        cacao.from_cacao("type: playbook\n")


def hand_written(workflow: dict[str, Any], start: str) -> dict[str, Any]:
    return {"type": "playbook", "spec_version": "cacao-2.0", "id": "playbook--61a6c41e-6efc-4516-a242-dfbc5c89d562",
            "name": "Hand written", "created_by": "identity--5abe695c-7bd5-4c31-8824-2528696cdbf1",
            "created": "2023-05-26T15:56:00.123Z", "modified": "2023-05-26T15:56:00.123Z",
            "workflow_start": start, "workflow": workflow,
            "agent_definitions": {GROUP: {"type": "group", "name": "Analysts"}}}


START = "start--11111111-1111-4111-8111-111111111111"
LOOP = "while-condition--22222222-2222-4222-8222-222222222222"
ACT = "action--33333333-3333-4333-8333-333333333333"
END = "end--44444444-4444-4444-8444-444444444444"
GROUP = "group--88888888-8888-4888-8888-888888888888"
MANUAL = [{"type": "manual", "command": "Look again"}]


def test_a_while_condition_is_refused_naming_the_step() -> None:
    doc = hand_written({
        START: {"type": "start", "on_completion": LOOP},
        LOOP: {"type": "while-condition", "condition": "[x:y = 1]", "on_true": ACT, "on_completion": END},
        ACT: {"type": "action", "commands": MANUAL, "agent": GROUP, "on_completion": LOOP},
        END: {"type": "end"},
    }, START)
    assert cacao.validate(doc) == []
    with pytest.raises(cacao.CacaoRefused) as refused:
        cacao.from_cacao(doc)
    assert refused.value.problems == [f"step {LOOP} loops; a casemgr playbook is a directed acyclic graph"]


def test_a_loop_through_on_completion_is_refused_naming_the_step() -> None:
    other = "action--55555555-5555-4555-8555-555555555555"
    doc = hand_written({
        START: {"type": "start", "on_completion": ACT},
        ACT: {"type": "action", "name": "One", "commands": MANUAL, "agent": GROUP, "on_completion": other},
        other: {"type": "action", "name": "Two", "commands": MANUAL, "agent": GROUP, "on_completion": ACT},
    }, START)
    with pytest.raises(cacao.CacaoRefused, match=f"step {ACT} loops"):
        cacao.from_cacao(doc)


def test_switch_and_playbook_action_are_mapped() -> None:
    switch = "switch-condition--66666666-6666-4666-8666-666666666666"
    run = "playbook-action--77777777-7777-4777-8777-777777777777"
    doc = hand_written({
        START: {"type": "start", "on_completion": switch},
        switch: {"type": "switch-condition", "name": "Which host kind", "switch": "__kind__:value",
                 "cases": {"server": ACT, "laptop": run}, "on_completion": END},
        ACT: {"type": "action", "name": "Isolate server", "commands": MANUAL, "agent": GROUP, "on_completion": END},
        run: {"type": "playbook-action", "name": "Laptop playbook",
              "playbook_id": "playbook--61a6c41e-6efc-4516-a242-dfbc5c89d562", "on_completion": END},
        END: {"type": "end"},
    }, START)
    pb = cacao.from_cacao(doc)
    assert steps_of(pb) == [
        ("which_host_kind", [], None),
        ("laptop_playbook", ["which_host_kind"], 'which_host_kind.choice == "laptop"'),
        ("isolate_server", ["which_host_kind"], 'which_host_kind.choice == "server"'),
    ]
    assert pb.steps[0].inputs[0].choices == ["server", "laptop"]
    assert "Run the playbook playbook--61a6c41e" in pb.steps[1].instructions


def test_schema_validation_never_uses_the_network() -> None:
    # a registry built from the folder: a reference it does not hold is an error, not a download
    assert isinstance(cacao._validator(), jsonschema.Draft7Validator)
    assert cacao._validator().schema["$id"].endswith("/playbook.json")


def test_the_vendored_schemas_are_the_oasis_files():
    """The package carries the OASIS schemas (an installed casemgr has no ../shared): the same bytes."""
    from casemgr.playbooks.cacao import _schema_folder

    shared = EXAMPLES.parent / "cacao-schemas"
    ours = _schema_folder()
    names = sorted(p.relative_to(shared).as_posix() for p in shared.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(ours).as_posix() for p in ours.rglob("*") if p.is_file())
    assert "LICENSE" in names
    for name in names:
        assert (ours / name).read_bytes() == (shared / name).read_bytes(), name
