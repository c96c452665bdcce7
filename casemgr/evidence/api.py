"""/api/v1 evidence endpoints: thin adapters over casemgr.evidence.service."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from casemgr.api import ApiBlueprint, body, listing, out, query
from casemgr.evidence import export, service
from casemgr.evidence.http import (
    RequestUpload,
    content_response,
    keeps_failures,
    upload_body,
    write_session,
    zip_response,
)
from casemgr.evidence.models import CustodyKind
from casemgr.evidence.schemas import (
    CustodyOut,
    CustodyReason,
    EvidenceOut,
    NewEvidence,
    OptionalPurpose,
    Transfer,
    UploadOut,
    VerificationOut,
)
from casemgr.web import current_actor, db_session, long_request_actor

bp = ApiBlueprint("evidence", __name__)


class EvidenceRowOut(EvidenceOut):
    chain_valid: bool


# The form's other fields are text whatever they hold (a number is its digits): no JSON type to violate.
UPLOAD_FORM = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary"},
    **{name: {"description": "optional, an ISO 8601 date-time" if name.endswith("_at") else "optional text"}
       for name in NewEvidence.model_fields}}}


@bp.operation("/cases/<int:case_id>/evidence", "POST", "Upload an evidence file (multipart/form-data: `file`, "
              "optional description, collected_by, collected_at, source, acquisition_method)",
              response=UploadOut, status=201, raw_body=("multipart/form-data", UPLOAD_FORM),
              creates=("evidence_id", "id"))
@upload_body
def upload(case_id: int) -> Any:
    with long_request_actor() as (read, actor):
        service.check_can_add(read, actor, case_id)
    s = db_session()
    item = service.add_evidence(s, actor, case_id, RequestUpload(s))
    return jsonify(out(UploadOut, item)), 201


@bp.operation("/cases/<int:case_id>/evidence", "GET", "A case's evidence items with custody chain validity",
              response=EvidenceRowOut, is_list=True)
def list_items(case_id: int) -> Any:
    rows = service.list_items(db_session(), current_actor(), case_id)
    return listing(rows, lambda r: {**out(EvidenceOut, r.item), "chain_valid": r.chain.valid})


@bp.operation("/evidence/<int:evidence_id>", "GET", "One evidence item", response=EvidenceOut)
def get_item(evidence_id: int) -> Any:
    return jsonify(out(EvidenceOut, service.get_item(db_session(), current_actor(), evidence_id)))


@bp.operation("/evidence/<int:evidence_id>/custody", "GET", "The item's chain of custody and whether it verifies",
              response=CustodyOut)
def custody(evidence_id: int) -> Any:
    item, events, chain = service.custody(db_session(), current_actor(), evidence_id)
    return jsonify(out(CustodyOut, {"evidence_id": item.id, "chain_valid": chain.valid,
                                    "chain_problem": chain.problem, "events": events}))


@bp.operation("/evidence/<int:evidence_id>/content", "GET", "Stream the decrypted content (`purpose` is recorded; "
              "an integrity failure breaks the transfer off)", query=OptionalPurpose, errors=(409, 500),
              media_type="application/octet-stream")
@keeps_failures
def content(evidence_id: int) -> Any:
    purpose = query(OptionalPurpose).purpose
    opened = service.open_content(write_session(), current_actor(), evidence_id, purpose,
                                  kind=CustodyKind.DOWNLOADED)
    return content_response(opened)


@bp.operation("/evidence/<int:evidence_id>/verify", "POST", "Decrypt and hash the item; record the result",
              response=VerificationOut, errors=(409,))
def verify(evidence_id: int) -> Any:
    result = service.verify(db_session(), current_actor(), evidence_id)
    item = result.item
    return jsonify(out(VerificationOut, {"id": item.id, "ok": result.ok, "integrity": item.integrity,
                                         "detail": result.detail, "sha256": item.sha256, "size": item.size}))


def _custody_action(fn: Any, model: Any, evidence_id: int) -> Any:
    item = fn(db_session(), current_actor(), evidence_id, body(model))
    return jsonify(out(EvidenceOut, item))


@bp.operation("/evidence/<int:evidence_id>/transfer", "POST", "Hand the item to another custodian", body=Transfer,
              response=EvidenceOut, errors=(409,))
def transfer(evidence_id: int) -> Any:
    return _custody_action(service.transfer, Transfer, evidence_id)


@bp.operation("/evidence/<int:evidence_id>/seal", "POST", "Seal the item", body=CustodyReason, response=EvidenceOut,
              errors=(409,))
def seal(evidence_id: int) -> Any:
    return _custody_action(service.seal, CustodyReason, evidence_id)


@bp.operation("/evidence/<int:evidence_id>/release", "POST", "Release a sealed item", body=CustodyReason,
              response=EvidenceOut, errors=(409,))
def release(evidence_id: int) -> Any:
    return _custody_action(service.release, CustodyReason, evidence_id)


@bp.operation("/evidence/<int:evidence_id>/dispose", "POST", "Destroy the content, keep the record (managers)",
              body=CustodyReason, response=EvidenceOut, errors=(409,))
def dispose(evidence_id: int) -> Any:
    return _custody_action(service.dispose, CustodyReason, evidence_id)


@bp.operation("/cases/<int:case_id>/evidence/export", "POST", "A signed ZIP of the case's evidence (managers)",
              errors=(500,), media_type="application/zip")
@keeps_failures
def export_case(case_id: int) -> Any:
    package = export.export_case(db_session(), current_actor(), case_id)
    return zip_response(package.name, package.chunks)
