"""The configuration files' endpoints: none yet (the files are handled by `casemgr config`)."""

from __future__ import annotations

from casemgr.api import ApiBlueprint

bp = ApiBlueprint("configfiles", __name__, url_prefix="/config")
