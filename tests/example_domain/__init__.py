"""A domain as small as one can be, registered the way every casemgr domain is (docs/architecture.md):
tests/test_domains.py adds it to casemgr.DOMAINS with one line and finds its page, its API endpoint
(in the OpenAPI document too) and its `casemgr` group. A new domain starts as a copy of these files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

# The groups of `casemgr` in tests.example_domain.cli, each with the line `casemgr --help` shows for it.
COMMANDS = {
    "example": "Say hello from the example domain.",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from tests.example_domain import views

    app.register_blueprint(views.bp)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from tests.example_domain import api

    return api.bp
