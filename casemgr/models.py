"""Every table, imported in one place so that Alembic and tests see the whole schema."""

from casemgr.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from casemgr.auth.models import (
    ApiToken,
    CustomRole,
    InstanceSetting,
    LoginSession,
    LoginThrottle,
    RecoveryCode,
    User,
)
from casemgr.cases.field_models import CaseFieldDefinition, CaseFieldValue
from casemgr.cases.models import Case, CaseEscalation, CaseLink, CaseReferenceCounter, CaseTag, TimelineEntry
from casemgr.cases.role_models import IncidentRoleAssignment, IncidentRoleKind
from casemgr.cases.taxonomy_models import TaxonomyCategory, TaxonomySubcategory
from casemgr.db import Base
from casemgr.evidence.models import CustodyEvent, EvidenceItem
from casemgr.indicators.models import IndicatorCollection, StixObject, StixObjectCorrection, StixObjectVersion
from casemgr.playbooks.models import Playbook, PlaybookRun, PlaybookVersion, RunStep
from casemgr.teams.models import Team, team_members

__all__ = ["ApiToken", "AuditCheckpoint", "AuditEntry", "AuditHead", "Base", "Case", "CaseEscalation",
           "CaseFieldDefinition", "CaseFieldValue", "CaseLink",
           "CaseReferenceCounter", "CaseTag", "CustodyEvent", "CustomRole", "EvidenceItem", "IncidentRoleAssignment",
           "IncidentRoleKind", "IndicatorCollection", "InstanceSetting",
           "LoginSession", "LoginThrottle", "Playbook", "PlaybookRun", "PlaybookVersion",
           "RecoveryCode", "RunStep", "StixObject", "StixObjectCorrection", "StixObjectVersion",
           "TaxonomyCategory", "TaxonomySubcategory", "Team", "TimelineEntry", "User", "team_members"]
