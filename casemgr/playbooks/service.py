"""The playbooks service: the one import surface (`from casemgr.playbooks import service`) re-exporting the
public names of the library (library.py) and the runs (runs.py)."""

from casemgr.playbooks.library import (
    ImportPlaybook,
    ImportResult,
    PlaybookRefused,
    definition_of,
    diff,
    get_playbook,
    get_version,
    import_text,
    list_playbooks,
    retire,
    set_current,
    suggested_for,
    sync_folder,
    versions_with_runs,
)
from casemgr.playbooks.runs import (
    RunView,
    StepView,
    act_on_step,
    change_run,
    get_run,
    next_states,
    run_view,
    runs_of_case,
    start_run,
)

__all__ = [
    "start_run", "get_run", "runs_of_case", "act_on_step", "change_run", "run_view", "RunView", "StepView",
    "next_states",
    "import_text", "sync_folder", "list_playbooks", "get_playbook", "get_version", "definition_of", "suggested_for",
    "diff", "versions_with_runs", "set_current", "retire", "ImportPlaybook", "ImportResult", "PlaybookRefused",
]
