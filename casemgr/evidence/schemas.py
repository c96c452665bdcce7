"""Input commands and output shapes for evidence, shared by the web forms, the API and the CLI.

Shapes only (types, lengths); who may do what and in which state lives in service.py.
Datetimes without a time zone are taken as UTC; blank optional fields are None.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from casemgr.evidence.models import CustodyKind, EvidenceState, Integrity
from casemgr.fields import Input, aware_utc, single_line, strip

Line = Annotated[str, BeforeValidator(strip), AfterValidator(single_line)]
# The length applies to the text, not to None: a bound on `str | None` as a whole fails on None (a 500).
Line200 = Annotated[str, Field(max_length=200), AfterValidator(single_line)]
Line500 = Annotated[str, Field(max_length=500), AfterValidator(single_line)]
Reason = Annotated[str, BeforeValidator(strip), Field(min_length=3, max_length=2000)]


class NewEvidence(Input):
    """The optional fields sent with an uploaded file."""

    model_config = ConfigDict(extra="forbid")
    description: Annotated[str, BeforeValidator(strip), Field(max_length=10_000)] = ""
    collected_by: Annotated[Line200 | None, BeforeValidator(strip)] = None
    collected_at: Annotated[dt.datetime | None, AfterValidator(aware_utc)] = None
    source: Annotated[Line500 | None, BeforeValidator(strip)] = None
    acquisition_method: Annotated[Line500 | None, BeforeValidator(strip)] = None


class ProvenanceCorrection(NewEvidence):
    """Where an item came from, as it should read (every field; a blank one is cleared), and why."""

    reason: Reason


class Purpose(Input):
    """Why content is handed out (recorded in the custody log)."""

    model_config = ConfigDict(extra="forbid")
    purpose: Annotated[Line, Field(min_length=3, max_length=500)]


class OptionalPurpose(Input):
    model_config = ConfigDict(extra="ignore")
    purpose: Annotated[Line500 | None, BeforeValidator(strip)] = None


class Transfer(Input):
    model_config = ConfigDict(extra="forbid")
    to: Annotated[Line, Field(min_length=1, max_length=150)]
    reason: Reason


class CustodyReason(Input):
    """Sealing, releasing or disposing of an item: why."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


class EvidenceSettings(Input):
    model_config = ConfigDict(extra="forbid")
    auditor_can_download: bool


# ---------------------------------------------------------------- output


class UploadOut(BaseModel):
    id: int
    sha256: str
    sha1: str
    md5: str
    size: int
    filename: str
    media_type: str


class EvidenceOut(UploadOut):
    case_id: int
    description: str
    collected_by: str | None
    collected_at: dt.datetime | None
    source: str | None
    acquisition_method: str | None
    state: EvidenceState
    custodian: str
    received_by: str
    received_at: dt.datetime
    integrity: Integrity
    verified_at: dt.datetime | None
    integrity_detail: str | None
    disposed_at: dt.datetime | None
    has_content: bool


class CustodyEventOut(BaseModel):
    seq: int
    kind: CustodyKind
    occurred_at: dt.datetime
    actor: str = Field(validation_alias="actor_name")
    token_issued_by: str | None = None  # who issued the token the actor used (entries made with a token)
    details: dict[str, Any]
    alarm: bool
    prev_hash: str
    hash: str


class CustodyOut(BaseModel):
    evidence_id: int
    chain_valid: bool
    chain_problem: str | None
    events: list[CustodyEventOut]


class VerificationOut(BaseModel):
    id: int
    ok: bool
    integrity: Integrity
    detail: str | None
    sha256: str
    size: int
