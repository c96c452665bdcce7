"""One registration convention: each package in casemgr.DOMAINS brings its pages, its part of /api/v1
and its `casemgr` groups, and a new domain is one more line of DOMAINS (docs/architecture.md)."""

from __future__ import annotations

import importlib
import re
import sys

import click
import pytest
from click.testing import CliRunner

from casemgr import DOMAINS, create_app
from casemgr.cli import LazyGroup, cli
from tests.conftest import ApiClient

EXAMPLE = "tests.example_domain"


@pytest.mark.parametrize("package", DOMAINS)
def test_every_domain_registers_its_pages_its_api_and_its_commands(app, package):
    views = importlib.import_module(f"{package}.views")
    assert app.blueprints.get(views.bp.name) is views.bp
    api_bp = importlib.import_module(package).api_blueprint()
    assert app.blueprints.get(f"api.{api_bp.name}") is api_bp
    openapi = app.test_client().get("/api/v1/openapi.json").get_json()
    for operation in api_bp.operations:
        assert operation.method in openapi["paths"][_openapi_path(operation.rule)]
    for name in importlib.import_module(package).COMMANDS:
        group = cli.get_command(click.Context(cli), name)
        assert isinstance(group, click.Group)
        assert group.callback.__module__ == f"{package}.cli"
        result = CliRunner().invoke(cli, [name, "--help"], prog_name="casemgr")
        assert result.exit_code == 0, result.output
        assert f"Usage: casemgr {name}" in result.output


def test_every_blueprint_of_the_app_comes_from_a_domain_or_the_shell(app):
    """Nothing is registered beside DOMAINS: a page or endpoint outside them would be a second convention."""
    shell = {"home", "api"}  # the home page and the /api/v1 blueprint that nests the domains' APIs
    from_domains = set()
    for package in DOMAINS:
        from_domains |= {name for name, bp in app.blueprints.items() if bp.import_name.startswith(f"{package}.")}
    assert set(app.blueprints) == shell | from_domains


def test_a_new_domain_is_one_line(settings, app, api):
    domains = (*DOMAINS, EXAMPLE)  # the one line
    example = create_app(settings, domains=domains)
    example.config["TESTING"] = True
    try:
        client = example.test_client()
        page = client.get("/example/")
        assert page.status_code == 302  # its page is there, behind the sign-in like every other
        assert page.headers["Location"].startswith("/login")
        analyst = api("analyst")
        greeting = ApiClient(client, analyst.token, analyst.user).get("/api/v1/example/greeting")
        assert greeting.status_code == 200
        assert greeting.get_json() == {"greeting": "hello"}
        assert "/api/v1/example/greeting" in client.get("/api/v1/openapi.json").get_json()["paths"]
    finally:
        example.extensions["casemgr.db"].dispose()
    assert app.test_client().get("/example/").status_code == 404  # the app built from DOMAINS has none of it

    root = LazyGroup(name="casemgr", domains=domains)
    listing = CliRunner().invoke(root, ["--help"])
    assert re.search(r"^  example +Say hello from the example domain\.$", listing.output, re.M)
    assert f"{EXAMPLE}.cli" not in sys.modules  # listed, not imported: that happens when it runs
    said = CliRunner().invoke(root, ["example", "hello"])
    assert said.exit_code == 0, said.output
    assert said.output == "hello from the example domain\n"


def _openapi_path(rule: str) -> str:
    return "/api/v1" + re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
