"""Configuration as files: the taxonomy, teams, incident role kinds (and what later domains add)
exported to and loaded from a folder of YAML files, checked with file, line and field.

The domain's entry points (see docs/architecture.md): `register` adds its pages to the app (none
yet), `api_blueprint` is its part of /api/v1 (none yet), `COMMANDS` its groups of the `casemgr` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

COMMANDS = {
    "config": "Export, check and apply the configuration files (YAML).",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from casemgr.configfiles import views

    app.register_blueprint(views.bp)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from casemgr.configfiles import api

    return api.bp
