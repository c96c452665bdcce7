"""Playbooks: versioned, branching containment procedures (YAML files in playbooks/) that analysts run on a case.

- definition.py: the playbook format as typed models (what a file says, once its shared steps are resolved).
- conditions.py: the small, safe expression language of step conditions (no eval).
- models.py: the stored playbook versions, the runs on cases and their steps.

The domain's entry points (see docs/architecture.md): `register` adds its pages to the app,
`api_blueprint` is its part of /api/v1, `COMMANDS` its groups of the `casemgr` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

# The groups of `casemgr` in casemgr.playbooks.cli (tests/test_cli_startup.py checks the line).
COMMANDS = {
    "playbook": "Validate, import, export and run playbooks.",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from casemgr.playbooks import case_views, views

    app.register_blueprint(views.bp)
    case_views.register(app)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from casemgr.playbooks import api

    return api.bp
