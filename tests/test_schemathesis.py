"""schemathesis against /api/v1/openapi.json on a live server: no 5xx, and every response as documented.

The app is served on a thread of this process (its database is the suite's, SQLite or PostgreSQL) and
populated by tests/world.py. schemathesis' command line runs in a subprocess, once per caller:
- the manager works the cases, evidence and indicators of the seeded case (path ids fixed to its
  objects, so bodies and queries reach real objects rather than 404s);
- the admin works users, tokens, settings and the audit log;
- the analyst who is no member, with ids left free (what a stranger probes: hidden and missing ids).
Each pass has a bounded number of examples per operation and a time limit; the whole run takes
about two minutes per database (the three passes: 110 s of fuzzing, then the seeding and the server).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import serving
from tests.world import World, build_world, spare_token

# The checks that the document and the server must pass. Invalid input is still generated (and must get
# a documented 4xx), but two checks of how strict the validation is are left out: positive_data_acceptance
# (a schema-valid body may still break a rule the schema cannot say: an unknown category, a transition
# from the wrong state) and negative_data_rejection (the API is lenient where that is harmless: a blank
# optional field means "not given", "8" is read as 8). The checks of what the API does beyond the document
# (use_after_free, ignored_auth & co.) are the authorization matrix's job (tests/test_authz_matrix.py).
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "unsupported_method"]
SEED = 20260101


@dataclass(frozen=True)
class Pass:
    who: str
    examples: int
    max_time: int
    tags: tuple[str, ...] = ()
    fixed_ids: bool = True


PASSES = [
    Pass("manager", examples=12, max_time=60, tags=("cases", "indicators", "evidence")),
    Pass("admin", examples=12, max_time=25, tags=("auth", "audit")),
    Pass("outsider", examples=4, max_time=25, fixed_ids=False),
]


def _config(world: World, run: Pass, token: str) -> str:
    lines = ["[headers]", f'Authorization = "Bearer {token}"']
    if run.fixed_ids:
        case = world.cases["case"]
        lines += ["[parameters]", f"case_id = {case.id}", f"evidence_id = {case.evidence_id}",
                  f'object_id = "{case.sdo_stix_id}"', f'username = "{world.usernames["spare"]}"',
                  f"token_id = {world.token_ids['spare']}",
                  # disposal destroys the content every other evidence operation needs: another item for it
                  "[[operations]]", 'include-name = "POST /api/v1/evidence/{evidence_id}/dispose"',
                  f"parameters = {{ evidence_id = {world.cases['restricted'].evidence_id} }}"]
    return "\n".join(lines) + "\n"


def _run(base: str, world: World, run: Pass, reports: Path) -> dict[str, Any]:
    config = reports / f"{run.who}.toml"
    config.write_text(_config(world, run, world.tokens[run.who]))
    report = reports / f"{run.who}.json"
    st = Path(sys.executable).with_name("st")
    command = [str(st), "--config-file", str(config), "run", f"{base}/api/v1/openapi.json",
               "--checks", ",".join(CHECKS), "--max-examples", str(run.examples), "--max-time", str(run.max_time),
               "--seed", str(SEED), "--workers", "1", "--request-timeout", "30", "--continue-on-failure",
               "--report", "json", "--report-json-path", str(report), "--output-truncate", "false"]
    for tag in run.tags:
        command += ["--include-tag", tag]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=run.max_time + 120, env=env,
                          cwd=reports, check=False)
    (reports / f"{run.who}.out").write_text(done.stdout + done.stderr)
    assert report.exists(), done.stdout + done.stderr
    return {"output": done.stdout, "report": json.loads(report.read_text())}




@dataclass(frozen=True)
class Failure:
    who: str
    where: str  # the operation, or "Stateful tests"
    codes: frozenset[str]
    request: str  # how to reproduce it (curl)


def _failures(who: str, output: str) -> list[Failure]:
    """Each failing test case of schemathesis' output, with its codes and request."""
    failures = []
    section = output.split("= FAILURES =", 1)[-1].split("= WARNINGS =", 1)[0].split("= SUMMARY =", 1)[0]
    blocks = re.split(r"\n_{3,} (.+?) _{3,}\n", section)
    for where, block in zip(blocks[1::2], blocks[2::2], strict=True):
        for case in re.split(r"\n\d+\. Test Case ID: ", "\n" + block)[1:]:
            codes = frozenset(re.findall(r"^- (ST\d+) ", case, re.MULTILINE))
            request = case.split("Reproduce with:", 1)[-1]
            failures.append(Failure(who, where, codes, request))
    return failures


def test_the_api_answers_as_its_openapi_document_says(app, tmp_path):
    world = build_world(app)
    world.token_ids["spare"] = spare_token(app, world, "manager")  # the manager pass may revoke this one
    found: list[Failure] = []
    errored: list[str] = []
    summary = []
    with serving(app) as base:
        for run in PASSES:
            result = _run(base, world, run, tmp_path)
            cases = result["report"]["test_cases"]
            summary.append(f"{run.who}: {result['report']['operations']['tested']} operations, "
                           f"{cases['generated']} cases, {cases['unique_failures']} failures, "
                           f"{cases['errored']} errors")
            # an error is a request that got no answer (a timeout: a worker held for 30 s) or a schema
            # schemathesis could not use: a defect as much as a 500
            errored += [f"{run.who}: {e['title']} x{e['count']} (details: {tmp_path}/{run.who}.out)"
                        for e in result["report"]["errors"]]
            failures = _failures(run.who, result["output"])
            assert failures or not result["report"]["failures"], f"failures not read from {run.who}.out"
            found += failures
    print("schemathesis:", "; ".join(summary))
    assert not errored, "\n".join(errored)
    assert not found, "\n".join(f"{f.who}: {' '.join(sorted(f.codes))} {f.where}: {f.request.strip()[:500]}"
                                for f in found) + f"\n(details: {tmp_path}/*.out)"
