"""The configuration files' pages: none yet (the files are handled by `casemgr config`). The blueprint
is here so that the domain has the shape of every other (docs/architecture.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("configfiles", __name__, url_prefix="/admin/config")
