"""The playbook pages: one blueprint; the library's and the runs' pages are in their own modules, imported
below so that they add their routes to it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("playbooks", __name__)

# The modules that add their routes to `bp` (imported for that effect, after bp exists).
# e.g. from casemgr.playbooks import library_views, run_views
from casemgr.playbooks import run_views  # noqa: E402, F401
