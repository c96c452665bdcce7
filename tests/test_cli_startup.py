"""`casemgr` starts fast: each domain's commands and the heavy libraries load only when used.

Importing ioc-finder alone takes about a second; before the lazy group every command, even
`casemgr --help`, imported every domain and took 4-7 s. These tests run the real command in a
fresh interpreter and look at what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from casemgr.cli import DOMAIN_COMMANDS, cli

# Libraries that cost tens or hundreds of milliseconds to import and that most commands never use.
HEAVY = ("ioc_finder", "pyparsing", "stix2", "stix2patterns", "weasyprint", "pydyf", "qrcode", "PIL",
         "gunicorn", "alembic", "jsonschema", "magic", "zxcvbn", "pypdf")
# `case list` reads cases: it renders no Markdown, parses no observable, signs no one in, signs or decrypts nothing.
NOT_FOR_CASE_LIST = (*HEAVY, "markdown_it", "email_validator", "idna", "pyotp", "flask", "jinja2", "werkzeug",
                     "argon2", "cryptography", "casemgr.signing", "limits")
# Nor the code behind what it does not do: the audit service and its models (it writes no audit entry: the
# services that do import `record` from casemgr.audit.trail), the evidence keyring and cipher (it opens no
# evidence), the indicator models, the configuration files' YAML, Markdown (it renders none), the incident
# roles and the taxonomy (it filters on neither unless asked), the syslog handler (no audit stream).
NOT_READ_BY_CASE_LIST = ("casemgr.audit.service", "casemgr.audit.models", "casemgr.audit.readable", "rfc8785",
                         "casemgr.evidence.keyring", "casemgr.evidence.crypto", "casemgr.evidence.models",
                         "casemgr.indicators.models", "yaml", "casemgr.markdown", "nh3", "casemgr.cases.incident_roles",
                         "casemgr.cases.role_models", "casemgr.cases.taxonomy", "casemgr.cases.taxonomy_models",
                         "logging.handlers",
                         # the changes, actions and export of cases (the service facade loads them when used), the
                         # teams' service, and the custom fields (loaded for a `--field` filter only)
                         "casemgr.cases.changes", "casemgr.cases.actions", "casemgr.cases.export",
                         "casemgr.teams.service", "casemgr.cases.custom_fields", "casemgr.cases.field_models")
# On SQLite it loads no PostgreSQL dialect either (whose package imports every driver module SQLAlchemy has).
NOT_ON_SQLITE = ("sqlalchemy.dialects.postgresql", "psycopg")
# `--help` needs neither a database nor a web app.
NOT_FOR_HELP = (*HEAVY, "sqlalchemy", "flask", "pydantic", "argon2", "cryptography", "pyotp")

PROBE = """
import json, sys
sys.argv = ["casemgr", *json.loads(sys.argv[1])]
from casemgr.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nLOADED=" + json.dumps(sorted(sys.modules)))
"""


def loaded_by(args: list[str], env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Run `casemgr ARGS` in a fresh interpreter; its output and the modules it imported (each by its
    full name and its top-level package's)."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    output, _, modules = done.stdout.rpartition("\nLOADED=")
    assert modules, done.stderr
    names = json.loads(modules)
    return output, {*names, *(name.split(".")[0] for name in names)}


def test_help_lists_every_command_group_without_importing_them():
    output, modules = loaded_by(["--help"])
    for name in (*DOMAIN_COMMANDS, "init", "serve"):
        assert f"  {name} " in output
    assert modules.isdisjoint(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))
    assert not any(name.startswith("casemgr.") and name.endswith(".cli") and name != "casemgr.cli"
                   for name in modules)


@pytest.mark.parametrize("group", sorted(DOMAIN_COMMANDS))
def test_a_groups_help_loads_no_heavy_library(group):
    output, modules = loaded_by([group, "--help"])
    assert "Usage: casemgr " + group in output
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_case_list_loads_no_heavy_library(cli_env, app, open_case, api):
    import os

    open_case(api("analyst"), title="Phishing wave")
    output, modules = loaded_by(["case", "list"], env={**os.environ, **cli_env})
    assert "Phishing wave" in output
    assert "1 case(s)" in output
    on_sqlite = cli_env["CASEMGR_DATABASE_URL"].startswith("sqlite")
    not_loaded = {*NOT_FOR_CASE_LIST, *NOT_READ_BY_CASE_LIST, *(NOT_ON_SQLITE if on_sqlite else ())}
    assert modules.isdisjoint(not_loaded), sorted(modules & not_loaded)
    sign_in = {"casemgr.auth.service", "casemgr.auth.signin", "casemgr.auth.tokens", "casemgr.auth.users"}
    assert modules.isdisjoint(sign_in), "the sign-in code is for --as only"


MAPPERS_PROBE = """
import json, sys
sys.argv = ["casemgr", "case", "list"]
from casemgr.cli import main
try:
    main()
except SystemExit:
    pass
from casemgr.db import Base
print("\\nMAPPED=" + json.dumps(sorted(mapper.class_.__name__ for mapper in Base.registry.mappers)))
"""


def test_case_list_configures_only_the_mappers_it_uses(cli_env, app):
    """SQLAlchemy configures every mapper in the registry on the first query: a model imported but unused
    costs `case list` its import and its configuration."""
    import os

    done = subprocess.run([sys.executable, "-c", MAPPERS_PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **cli_env}, check=False)
    assert "\nMAPPED=" in done.stdout, done.stderr
    mapped = set(json.loads(done.stdout.rpartition("\nMAPPED=")[2]))
    assert {"Case", "User", "Team"} <= mapped
    assert mapped.isdisjoint({"AuditEntry", "AuditHead", "AuditCheckpoint", "EvidenceItem", "CustodyEvent",
                              "StixObject", "IndicatorCollection", "IncidentRoleKind", "IncidentRoleAssignment",
                              "TaxonomyCategory", "TaxonomySubcategory", "CaseFieldDefinition",
                              "CaseFieldValue"}), sorted(mapped)


BUILT_PROBE = """
import json, sys
sys.argv = ["casemgr", "case", "list"]
from casemgr.cli import main
try:
    main()
except SystemExit:
    pass
from casemgr.cases import schemas
print("\\nBUILT=" + json.dumps(sorted(name for name, model in vars(schemas).items()
                                     if getattr(model, "__pydantic_complete__", False))))
"""


def test_case_list_builds_the_validator_of_its_query_only(cli_env, app):
    """Input schemas build their pydantic validators on first use (defer_build): a command pays for the
    one it validates, not for every schema its domain's modules define."""
    import os

    done = subprocess.run([sys.executable, "-c", BUILT_PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **cli_env}, check=False)
    assert "\nBUILT=" in done.stdout, done.stderr
    assert json.loads(done.stdout.rpartition("\nBUILT=")[2]) == ["CaseQuery"]


@pytest.mark.parametrize("name", sorted(DOMAIN_COMMANDS))
def test_the_help_line_shown_for_a_lazy_group_is_its_own(name):
    group = cli.get_command(click.Context(cli), name)
    assert group is not None
    assert group.get_short_help_str(limit=200) == DOMAIN_COMMANDS[name][1]


def test_a_lazy_group_runs_its_commands(run_cli):
    result = run_cli("case", "list")
    assert result.exit_code == 0, result.stderr
    assert "0 case(s)" in result.stdout


def test_the_vaults_default_segment_size_is_the_formats():
    """casemgr.evidence.vault writes the default out so that building a database does not import the cipher."""
    from pathlib import Path

    from casemgr.evidence.crypto import DEFAULT_SEGMENT_SIZE
    from casemgr.evidence.store import EvidenceStore
    from casemgr.evidence.vault import EvidenceVault

    vault = EvidenceVault(instance_dir=Path("."), store=EvidenceStore(Path("evidence")), max_upload_bytes=1)
    assert vault.segment_size == DEFAULT_SEGMENT_SIZE


def test_the_cases_service_facade_names_each_function_once_and_finds_it():
    """casemgr.cases.service loads its modules on first use: every name it lists is found where it says."""
    from casemgr.cases import service

    assert sorted(service.__all__) == sorted(service._MODULE_OF)
    for name in service.__all__:
        assert getattr(service, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        service.nothing_here  # noqa: B018
