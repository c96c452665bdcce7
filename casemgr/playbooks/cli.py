"""`casemgr playbook ...`: the group; its commands are in their own modules, imported below."""

from __future__ import annotations

import click


@click.group()
def playbook() -> None:
    """Validate, import, export and run playbooks."""


# The modules that add their commands to `playbook` (imported for that effect, after it exists).
# e.g. from casemgr.playbooks import validate_cli, library_cli, runs_cli
from casemgr.playbooks import library_cli, runs_cli, validate_cli  # noqa: E402, F401  (import/list/show/export; run ...; validate)
