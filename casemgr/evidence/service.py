"""Evidence use cases: intake, chain of custody, reading, verifying, disposal, key rotation, gc.

The one import surface for the evidence service (`from casemgr.evidence import service`); the code is
in chain.py (the custody chain's hashes), items.py (loading, intake, settings, reading content),
custody.py (verify, transfer, provenance, seal, release, dispose) and maintenance.py (keys, gc).

Who may do what (on top of seeing the case, casemgr.cases.access; the permissions are in
casemgr/auth/permissions.py):
- upload (`evidence.upload`), transfer, seal, release (`evidence.handle`): on a case one may change
  (analysts, managers);
- download: `evidence.download` (analysts and managers); `evidence.download_if_enabled` (auditors)
  only when an admin allowed it (`auditor_can_download`, an InstanceSetting); admins never see case content;
- verify and read the custody log: everyone who sees the case (auditors included);
- dispose (`evidence.dispose`) and export (`evidence.export`): managers (and the CLI operator);
- key rotation and store clean-up (`evidence.maintain`): admins and the CLI operator.

Every change appends a custody event (hash-chained per item, see models.py) and an audit entry
in the same transaction. Integrity failures found while streaming content (after the request's
transaction committed) are recorded in a transaction of their own; failures found before any
content left are recorded in the request's session and raised as IntegrityFailure, which the
adapters commit before answering (the record must survive the error response).

Export packages are built in export.py.
"""

from casemgr.evidence.chain import GENESIS_HASH, ChainCheck, check_chain, custody_hash, custody_payload
from casemgr.evidence.custody import (
    PROVENANCE,
    Verification,
    correct_provenance,
    dispose,
    provenance_correctable,
    release,
    seal,
    transfer,
    verify,
    verify_many,
)
from casemgr.evidence.items import (
    AUDITOR_DOWNLOAD_SETTING,
    Actions,
    Content,
    ContentIntegrityError,
    IntegrityFailure,
    ItemView,
    Opened,
    Upload,
    actions,
    add_evidence,
    auditor_can_download,
    case_alarms,
    check_can_add,
    custody,
    evidence_settings,
    get_item,
    list_items,
    may_download,
    open_content,
    record_failure,
    set_auditor_can_download,
)
from casemgr.evidence.maintenance import GcReport, gc, keys_in_use, retire_key, rewrap_batch

__all__ = [
    "GENESIS_HASH", "custody_payload", "custody_hash", "ChainCheck", "check_chain", "AUDITOR_DOWNLOAD_SETTING",
    "IntegrityFailure", "ContentIntegrityError", "Upload", "get_item", "ItemView", "list_items", "custody",
    "case_alarms", "check_can_add", "add_evidence", "auditor_can_download", "evidence_settings",
    "set_auditor_can_download", "Actions", "actions", "may_download", "Opened", "record_failure", "Content",
    "open_content", "Verification", "verify", "verify_many", "transfer", "PROVENANCE", "provenance_correctable",
    "correct_provenance", "seal", "release", "dispose", "keys_in_use", "rewrap_batch", "retire_key", "GcReport",
    "gc",
]
