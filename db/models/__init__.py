"""All models, imported in dependency order so metadata is complete."""

from db.models.access import AccessRead
from db.models.cases import Case, CaseAgency, Task
from db.models.governance import (
    AGENCIES,
    RESETTLEMENT_PATHWAYS,
    ROLES,
    AuditEntry,
    ImportBatch,
    RuleSetVersion,
    SignInAttempt,
    User,
)
from db.models.operations import SchedulerHeartbeat
from db.models.panel import DECISIONS, PanelItem, PanelMeeting
from db.models.people import (
    EVENT_KINDS,
    FLAG_KINDS,
    SUPERVISION_PROVIDERS,
    Assessment,
    OffendingEvent,
    PartnerFlag,
    Person,
    Supervision,
)
from db.models.publications import RuleSetPublication
from db.models.sharing import ACCESS_LIST_KINDS, CaseAccessList  # noqa: F401
from db.models.tasking import COMPLIANCE_KINDS, ComplianceEvent, Notification  # noqa: F401

__all__ = [
    "AGENCIES", "RESETTLEMENT_PATHWAYS", "ROLES",
    "EVENT_KINDS", "FLAG_KINDS", "SUPERVISION_PROVIDERS",
    "AccessRead", "AuditEntry", "ImportBatch", "RuleSetVersion", "SignInAttempt", "User",
    "Assessment", "OffendingEvent", "PartnerFlag", "Person", "Supervision",
    "Case", "CaseAgency", "Task", "RuleSetPublication",
    "DECISIONS", "PanelItem", "PanelMeeting", "SchedulerHeartbeat",
]

# Case versions are kept by Session listeners; registering them with the models means
# no session can write a case without them.
from db import versioning  # noqa: E402, F401
