"""The playbook loader: every kind of problem reported with its file, line and field; valid files loaded."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from casemgr.playbooks import loader
from casemgr.playbooks.definition import SharedStep
from casemgr.playbooks.loader import Registry

FILES = Path(__file__).parent / "files"
DOCS = Path(__file__).parents[2] / "docs" / "playbook-format.md"

HEAD = """\
id: sample
title: Sample
version: 1.0.0
steps:
"""


def shared() -> dict[str, SharedStep]:
    steps, problems = loader.read_shared_steps(FILES / "steps")
    assert problems == []
    return steps


def problems_of(text: str, *, registry: Registry | None = None) -> list[str]:
    pb, problems = loader.load_text(textwrap.dedent(text), "pb.yaml", shared(), registry=registry)
    assert pb is None
    assert problems, "a playbook with problems is refused"
    return [str(p) for p in problems]


def steps(text: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(text), "  ")


def test_a_valid_playbook_with_a_branch_and_a_shared_step_loads():
    playbooks, problems = loader.load_folder(FILES)
    assert problems == []
    [pb] = playbooks
    assert [s.id for s in pb.steps] == ["triage", "reset", "block", "close"]
    reset = pb.step("reset")
    assert reset is not None
    assert reset.used == "reset_credentials"
    assert reset.title == "Reset the credentials of every account that clicked"
    assert "in the identity provider" in reset.instructions  # the parameter's default
    assert "Costs $0." in reset.instructions  # $$ is a dollar sign
    assert reset.condition == "triage.clicked"
    assert reset.depends_on == ["triage"]
    assert pb.step("close").depends_on == ["reset", "block"]  # type: ignore[union-attr]


def test_the_content_hash_does_not_depend_on_the_order_of_keys():
    text = (FILES / "phishing-sample.yaml").read_text()
    first, _ = loader.load_text(text, "a.yaml", shared())
    data = yaml.safe_load(text)
    reordered = {k: data[k] for k in reversed(list(data))}
    reordered["steps"] = [{k: s[k] for k in reversed(list(s))} for s in data["steps"]]
    second, problems = loader.load_text(yaml.safe_dump(reordered, sort_keys=False), "b.yaml", shared())
    assert problems == []
    assert first is not None
    assert second is not None
    assert re.fullmatch(r"[0-9a-f]{64}", loader.content_hash(first))
    assert loader.content_hash(first) == loader.content_hash(second)
    changed, _ = loader.load_text(text.replace("Close the case", "Close it"), "c.yaml", shared())
    assert changed is not None
    assert loader.content_hash(changed) != loader.content_hash(first)


def test_malformed_yaml_names_its_line():
    assert problems_of(HEAD + "  - id: a\n    title: [unclosed\n    phase: containment\n") == [
        "pb.yaml:7: not valid YAML: while parsing a flow sequence: expected ',' or ']', but got ':'"]


def test_an_alias_bomb_is_refused_before_it_expands():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 9):
        bomb += f"{'abcdefghij'[n]}: &{'abcdefghij'[n]} [{', '.join(['*' + 'abcdefghij'[n - 1]] * 10)}]\n"
    [problem] = problems_of(bomb)
    assert problem.startswith("pb.yaml:")
    assert "nested or repeated too deeply" in problem


def test_a_file_too_large_is_refused_before_it_is_read():
    [problem] = problems_of(HEAD + "#" * (loader.MAX_FILE_BYTES + 1))
    assert problem == "pb.yaml: larger than 1024 KiB; split the playbook"


def test_an_unknown_key_names_the_keys_allowed_there():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          inputs:
            - {id: x, label: X, type: text, colour: red}
          timeout: 5
        """)) == [
        "pb.yaml:9: steps[0].inputs[0].colour: unknown key; the keys here are id, label, type, required, help, "
        "choices",
        "pb.yaml:10: steps[0].timeout: unknown key; the keys here are id, title, phase, instructions, who, "
        "depends_on, condition, inputs, actions, used",
    ]


def test_a_key_given_twice_is_a_problem():
    assert problems_of(steps("""\
        - id: a
          title: A
          title: B
          phase: containment
        """)) == ["pb.yaml:7: steps[0].title: given twice in this item (first on line 6)"]


def test_every_problem_is_reported_not_only_the_first():
    found = problems_of("""\
        id: Not_Kebab
        title: Sample
        version: 1.0
        steps:
          - id: a
            title: A
            phase: nowhere
          - id: b
            title: B
            phase: containment
            depends_on: [a, ghost]
        """)
    assert found == [
        "pb.yaml:1: id: 'Not_Kebab' is not a playbook id: lower-case letters, digits and hyphens "
        "(e.g. cloud-credential-leak)",
        "pb.yaml:3: version: should be a text: write it in quotes (YAML reads 1.0 as a number)",
        "pb.yaml:7: steps[0].phase: must be one of 'identification', 'containment', 'eradication', 'recovery' "
        "or 'post-incident'",
        "pb.yaml:11: steps[1].depends_on[1]: no step 'ghost' in this playbook; the steps are a, b",
    ]


def test_a_bad_semantic_version():
    [problem] = problems_of(HEAD.replace("1.0.0", "'1.02.0'") + "  - {id: a, title: A, phase: containment}\n")
    assert problem == "pb.yaml:3: version: '1.02.0' is not a semantic version such as 1.2.0"


def test_a_cycle_names_its_steps_and_what_waits_for_it():
    assert problems_of(steps("""\
        - {id: start, title: Start, phase: identification}
        - {id: a, title: A, phase: containment, depends_on: [start, c]}
        - {id: b, title: B, phase: containment, depends_on: [a]}
        - {id: c, title: C, phase: containment, depends_on: [b]}
        - {id: d, title: D, phase: recovery, depends_on: [c]}
        - {id: e, title: E, phase: recovery, depends_on: [a]}
        """)) == [
        "pb.yaml:6: steps[1].depends_on: these steps depend on each other in a circle: a → c → b → a; none of "
        "them can ever become ready",
        "pb.yaml:9: steps[4].depends_on: can never become ready: it waits for 'a', which is in a circle of "
        "dependencies",
        "pb.yaml:10: steps[5].depends_on: can never become ready: it waits for 'a', which is in a circle of "
        "dependencies",
    ]


def test_a_missing_dependency_a_self_dependency_and_a_duplicate_id():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          depends_on: [a]
        - id: b
          title: B
          phase: containment
          depends_on:
            - nope
        - {id: c, title: C, phase: recovery, depends_on: [b]}
        - {id: a, title: A again, phase: recovery}
        """)) == [
        "pb.yaml:8: steps[0].depends_on[0]: a step cannot depend on itself",
        "pb.yaml:13: steps[1].depends_on[0]: no step 'nope' in this playbook; the steps are a, b, c",
        "pb.yaml:14: steps[2].depends_on: can never become ready: it waits for 'b', which depends on 'nope', "
        "which is not in this playbook",
        "pb.yaml:15: steps[3].id: 'a' is the id of steps[0] too (line 5); each step has its own id",
    ]


def test_duplicate_input_ids_in_a_step():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          inputs:
            - {id: x, label: X, type: text}
            - {id: x, label: X again, type: number}
        """)) == ["pb.yaml:10: steps[0].inputs[1].id: 'x' is the id of inputs[0] of this step too; each input "
                  "has its own id"]


CONDITION_STEPS = """\
- id: triage
  title: Triage
  phase: identification
  inputs:
    - {id: hosts, label: Hosts affected, type: number}
- id: side
  title: A step on the side
  phase: identification
  inputs:
    - {id: found, label: Found, type: boolean}
- id: contain
  title: Contain
  phase: containment
  depends_on: [triage]
  condition: {condition}
"""


@pytest.mark.parametrize(("condition", "message"), [
    ("ransom", "'ransom' names nothing: write case.<field> or <step>.<input> (at character 1)"),
    ("case.colour == 'red'", "'case.colour' names nothing: a case is read as case.<name> (one of category, "
     "impact, pap, priority, reference, restricted, severity, source, status, subcategory, team, tlp, urgency) "
     "or case.fields.<code>"),
    ("ghost.found", "'ghost.found' names nothing: there is no step 'ghost' (nor is it case.<name>)"),
    ("triage.users > 3", "'triage.users' names nothing: step 'triage' has no input 'users'; its inputs are "
     "hosts"),
    ("side.found", "'side.found' names an input of a step that is not before this one: add 'side' to "
     "depends_on (directly or through a step that depends on it)"),
    ("len(triage.hosts) > 3", "calling a function is not allowed in a condition; use comparisons, and, or, "
     "not and in (at character 1)"),
    ("triage.hosts > > 3", "not a condition: invalid syntax (at character 16)"),
    ("triage.hosts.__class__", "'triage.hosts.__class__' names nothing: write case.<name>, "
     "case.fields.<code> or <step>.<input>"),
])
def test_a_condition_that_names_nothing_or_is_not_in_the_language(condition, message):
    text = steps(CONDITION_STEPS.replace("{condition}", json.dumps(condition)))
    assert problems_of(text) == [f"pb.yaml:19: steps[2].condition: {message}"]


def test_a_condition_reads_the_inputs_of_steps_before_it_and_the_case():
    text = steps(CONDITION_STEPS.replace("{condition}", json.dumps(
        "triage.hosts >= 10 and case.severity in ['high', 'critical'] or case.fields.ticket != null")))
    pb, problems = loader.load_text(text, "pb.yaml", shared())
    assert problems == []
    assert pb is not None
    later = text + "  - {id: after, title: After, phase: recovery, depends_on: [contain], condition: triage.hosts}\n"
    assert loader.load_text(later, "pb.yaml", shared())[1] == []  # an ancestor through another step


def test_custom_fields_teams_roles_and_categories_are_checked_against_the_registry():
    registry = Registry(teams=frozenset({"SOC Tier 1"}), incident_roles=frozenset({"incident_commander"}),
                        categories=frozenset({"phishing"}), custom_fields=frozenset({"ticket"}))
    text = """\
        id: sample
        title: Sample
        version: 1.0.0
        categories: [phishing, ransomwear]
        steps:
          - id: a
            title: A
            phase: containment
            who: {team: soc tier 1}
            condition: case.fields.ticket != null and case.fields.tickt != null
            actions:
              - set_field: {field: ticket, value: T-1}
              - set_field: {field: tickett, value: T-1}
          - id: b
            title: B
            phase: containment
            who: {incident_role: commander}
          - id: c
            title: C
            phase: containment
            who: {team: Blue}
        """
    assert problems_of(text, registry=registry) == [
        "pb.yaml:4: categories[1]: no category 'ransomwear' in the taxonomy; the categories are phishing",
        "pb.yaml:10: steps[0].condition: 'case.fields.tickt': no custom field 'tickt'; the custom fields are "
        "ticket",
        "pb.yaml:13: steps[0].actions[1].set_field.field: 'tickett' is not a case field: the built-in ones are "
        "severity, impact, urgency, tlp, pap, source, category, subcategory, root_cause, the custom ones ticket",
        "pb.yaml:17: steps[1].who.incident_role: no incident role 'commander'; the roles are incident_commander",
        "pb.yaml:21: steps[2].who.team: no team 'Blue'; the teams are soc tier 1",
    ]
    pb, problems = loader.load_text(textwrap.dedent(text), "pb.yaml", shared())  # without: not checked
    assert problems == []


def test_actions_name_an_indicators_input_and_a_settable_field():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          inputs:
            - {id: note, label: Note, type: text}
          actions:
            - add_indicators: note
            - add_indicators: iocs
            - set_field: {field: status, value: closed}
            - set_field: {field: severity, value: huge}
        """)) == [
        "pb.yaml:11: steps[0].actions[0].add_indicators: 'note' is a text input, not an indicators input of "
        "this step; its indicators inputs are none",
        "pb.yaml:12: steps[0].actions[1].add_indicators: 'iocs' is no input of this step; its indicators inputs "
        "are none",
        "pb.yaml:13: steps[0].actions[2].set_field.field: the status changes through the lifecycle: use "
        "`transition: <state>` instead",
        "pb.yaml:14: steps[0].actions[3].set_field.value: 'huge' is not a severity; it is one of critical, high, "
        "informational, low, medium",
    ]


def test_an_approval_is_asked_when_a_step_is_completed():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          actions:
            - at: ready
              require_approval: Approve the isolation of the hosts?
        """)) == ["pb.yaml:9: steps[0].actions[0]: require_approval happens when the step is completed (at: "
                  "completed)"]


def test_an_unknown_permission():
    assert problems_of(steps("""\
        - id: a
          title: A
          phase: containment
          who:
            permission: case.fly
        """)) == ["pb.yaml:9: steps[0].who.permission: no permission 'case.fly'; the permissions are listed in "
                  "docs/permissions.md (e.g. playbook.run, case.edit)"]


def test_a_use_of_a_shared_step_that_does_not_exist_or_misses_a_parameter():
    assert problems_of(steps("""\
        - id: a
          use: reset_password
        - id: b
          use: reset_credentials
        - id: c
          use: reset_credentials
          with:
            account: alice
            acount: alice
        """)) == [
        "pb.yaml:6: steps[0].use: no shared step 'reset_password'; the shared steps are reset_credentials",
        "pb.yaml:7: steps[1].with: reset_credentials needs the parameter 'account' (whose credentials)",
        "pb.yaml:13: steps[2].with.acount: reset_credentials has no parameter 'acount'; its parameters are "
        "account, system",
    ]


def test_a_shared_step_file_with_problems(tmp_path):
    (tmp_path / "revoke.yaml").write_text(textwrap.dedent("""\
        id: revoke_sessions
        parameters:
          - name: who
        step:
          title: Revoke the sessions of ${who} on ${system}
          phase: containment
          instructions: Pay $5.
        """))
    found, problems = loader.read_shared_steps(tmp_path)
    assert found == {}
    assert [str(p).removeprefix(str(tmp_path) + "/") for p in problems] == [
        "revoke.yaml:1: id: 'revoke_sessions' should be the file's name (revoke.yaml has id revoke), so that a "
        "`use:` finds its file",
        "revoke.yaml:5: step.title: ${system} is not a parameter of this step; the parameters are who",
        "revoke.yaml:7: step.instructions: a lone $ is not a parameter: write ${name}, or $$ for a dollar sign",
    ]


def test_two_playbooks_with_one_id_in_a_folder(tmp_path):
    text = HEAD + "  - {id: a, title: A, phase: containment}\n"
    (tmp_path / "one.yaml").write_text(text)
    (tmp_path / "two.yaml").write_text(text)
    playbooks, problems = loader.load_folder(tmp_path)
    assert len(playbooks) == 1
    assert [p.message for p in problems] == ["'sample' is the id of " + loader.display_name(tmp_path / "one.yaml")
                                             + " too; each playbook has its own id"]


def test_the_committed_json_schemas_are_the_generated_ones():
    """Regenerate: python -c "from casemgr.playbooks import loader; loader.write_json_schemas()" """
    for name, text in loader.json_schemas().items():
        assert (loader.SCHEMA_FOLDER / name).read_text(encoding="utf-8") == text, f"regenerate {name}"


def _schema(name: str) -> dict:
    schema = json.loads((loader.SCHEMA_FOLDER / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_every_example_of_the_format_document_is_valid():
    playbook, shared_step = _schema("playbook.schema.json"), _schema("shared-step.schema.json")
    examples = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(examples) >= 2
    shared_steps: dict[str, SharedStep] = {}
    for text in examples:
        data = yaml.safe_load(text)
        if "step" in data:
            jsonschema.validate(data, shared_step)
            shared_steps[data["id"]] = SharedStep.model_validate(data)
    for text in examples:
        data = yaml.safe_load(text)
        if "steps" in data:
            jsonschema.validate(data, playbook)
            assert loader.load_text(text, "example.yaml", shared_steps)[1] == []


def test_the_schema_refuses_what_the_loader_refuses_of_the_form():
    playbook = _schema("playbook.schema.json")
    data = yaml.safe_load((FILES / "phishing-sample.yaml").read_text())
    data["steps"][0]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, playbook)


def test_every_shipped_playbook_loads():
    playbooks, problems = loader.load_folder(loader.SHIPPED)
    assert [str(p) for p in problems] == []
    assert len(playbooks) == len(list(loader.SHIPPED.glob("*.yaml")))
