"""The evidence vault: encrypted, hashed, atomically stored attachments with a chain of custody.

Storage core (no database, no HTTP): crypto (streaming AES-256-GCM format), keyring (master keys
and data-key wrapping), store (atomic directory store), mediatype (content sniffing, filenames).

The domain's entry points (see docs/architecture.md): `register` adds its pages to the app,
`api_blueprint` is its part of /api/v1, `COMMANDS` its groups of the `casemgr` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by `casemgr --help`: it imports nothing of its own until called
    from flask import Flask

    from casemgr.api import ApiBlueprint

# The groups of `casemgr` in casemgr.evidence.cli, each with the line `casemgr --help` shows for it
# (tests/test_cli_startup.py checks that line against the group's docstring).
COMMANDS = {
    "evidence": "Verify, export and clean the evidence store.",
    "keys": "Evidence master keys and the instance signing key.",
}


def register(app: Flask) -> None:
    """Add the domain's pages (blueprints, and anything else they need of the app)."""
    from casemgr.evidence import views

    views.register(app)


def api_blueprint() -> ApiBlueprint:
    """The domain's endpoints, nested under /api/v1 by casemgr.api.make_api."""
    from casemgr.evidence import api

    return api.bp
