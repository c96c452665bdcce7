"""Indicators on a case: capture, extraction, STIX 2.1 import and export, TAXII 2.1, search.

The domain's entry points (see docs/architecture.md): `register` adds its pages to the app,
`api_blueprint` is its part of /api/v1, `COMMANDS` its groups of the `casemgr` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

# The groups of `casemgr` in casemgr.indicators.cli, each with the line `casemgr --help` shows for it
# (tests/test_cli_startup.py checks that line against the group's docstring).
COMMANDS = {
    "stix": "Import and export STIX 2.1 bundles.",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from casemgr.indicators import taxii, views

    views.register(app)
    app.register_blueprint(taxii.bp)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from casemgr.indicators import api

    return api.bp
