"""Cases: open, read, change, move through the lifecycle, escalate, annotate, link, find.

The domain's entry points (see docs/architecture.md): `register` adds its pages to the app,
`api_blueprint` is its part of /api/v1, `COMMANDS` its groups of the `casemgr` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

# The groups of `casemgr` in casemgr.cases.cli, each with the line `casemgr --help` shows for it
# (tests/test_cli_startup.py checks that line against the group's docstring).
COMMANDS = {
    "case": "List, show and export cases.",
    "taxonomy": "Show the incident categories and subcategories.",
    "field": "Define the custom fields of cases.",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from casemgr.cases import field_views, role_kinds_views, roles_views, views  # noqa: F401 (roles_views adds to views.bp)

    app.register_blueprint(views.bp)
    app.register_blueprint(role_kinds_views.bp)
    app.register_blueprint(field_views.bp)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from casemgr.cases import api, field_api, roles_api  # noqa: F401 (they add their operations to api.bp)

    return api.bp
