"""/api/v1/playbooks and /api/v1/playbook-runs: one blueprint; the library's and the runs' endpoints are in
their own modules, imported below so that they add their operations to it."""

from __future__ import annotations

from casemgr.api import ApiBlueprint

bp = ApiBlueprint("playbooks", __name__)

# The modules that add their endpoints to `bp` (imported for that effect, after bp exists).
# e.g. from casemgr.playbooks import library_api, runs_api
from casemgr.playbooks import runs_api  # noqa: E402, F401  (the runs' endpoints)
