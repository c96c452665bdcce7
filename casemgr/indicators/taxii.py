"""A read-only TAXII 2.1 server under /taxii2/: discovery, one API root, collections, objects and manifests.

Authentication is an API token (Authorization: Bearer ...), the same tokens as /api/v1. Who sees what is
decided by casemgr/indicators/sharing.py (and, for cases, casemgr/cases/access.py). Errors are TAXII error
messages in the TAXII media type.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, request, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from casemgr import fields
from casemgr.errors import BadRequest, DomainError, Unauthorized
from casemgr.indicators import rows, sharing
from casemgr.indicators.models import StixObject
from casemgr.web import current_actor, db_session

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_TOKEN = 200  # a `next` token this server hands out is about 60 characters
log = logging.getLogger(__name__)

bp = Blueprint("taxii", __name__, url_prefix="/taxii2")


def _json(payload: dict[str, Any] | str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return Response(text, status=status, content_type=TAXII, headers=headers or {})


@bp.before_request
def _authenticate() -> None:
    accept = request.headers.get("Accept", "")
    if accept and not any(t in accept for t in ("application/taxii+json", "*/*", "application/json")):
        raise _NotAcceptable(f"this server answers in {TAXII}; the Accept header asked for {accept!r}")
    if not current_user.is_authenticated:
        raise Unauthorized("a valid API token is required (Authorization: Bearer <token>)")


class _NotAcceptable(DomainError):
    status = 406
    code = "not_acceptable"


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    body: dict[str, Any] = {"title": exc.code.replace("_", " "), "description": exc.message,
                            "http_status": str(exc.status)}
    if exc.field:
        body["details"] = {"field": exc.field}
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return _json(body, exc.status, headers)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return _json({"title": exc.name, "description": exc.description or "", "http_status": str(exc.code)},
                 exc.code or 500)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    """A TAXII client gets even an unexpected failure as a TAXII error message, never an HTML page."""
    log.exception("unhandled error in TAXII request %s", g.get("request_id"))
    return _json({"title": "internal error", "http_status": "500",
                  "description": f"something went wrong on our side (request {g.get('request_id')})"}, 500)


@bp.get("/")
def discovery() -> Response:
    # Never from the Host header, which the client chooses: the configured base URL, else a URL
    # relative to this server (TAXII clients resolve it against the discovery URL).
    root = url_for("taxii.api_root")
    base_url = current_app.extensions["casemgr.settings"].base_url
    if base_url:
        root = base_url + root.removeprefix(request.script_root)
    return _json({"title": "casemgr TAXII 2.1", "description": "Indicators shared from incident cases (read-only)",
                  "default": root, "api_roots": [root]})


@bp.get("/api/")
def api_root() -> Response:
    return _json({"title": "casemgr", "description": "Case indicators as STIX 2.1", "versions": [TAXII],
                  "max_content_length": 0})


def _collection(c: sharing.Collection) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "description": c.description, "can_read": True, "can_write": False,
            "media_types": [STIX]}


@bp.get("/api/collections/")
def collections() -> Response:
    found = sharing.collections(db_session(), current_actor())
    return _json({"collections": [_collection(c) for c in found]})


@bp.get("/api/collections/<collection_id>/")
def collection(collection_id: str) -> Response:
    return _json(_collection(sharing.get_collection(db_session(), current_actor(), collection_id)))


def _page() -> tuple[sharing.Collection, sharing.Page]:
    s, actor = db_session(), current_actor()
    found = sharing.get_collection(s, actor, request.view_args["collection_id"])  # type: ignore[index]
    page = sharing.page_objects(s, actor, found, added_after=_added_after(), limit=_limit(),
                                next_token=_next_token(), types=_match("type"),
                                ids=_match("id"))
    return found, page


def _page_headers(objects: list[StixObject]) -> dict[str, str]:
    if not objects:
        return {}
    return {"X-TAXII-Date-Added-First": sharing.taxii_timestamp(objects[0].added_at),
            "X-TAXII-Date-Added-Last": sharing.taxii_timestamp(objects[-1].added_at)}


def _envelope(page: sharing.Page, texts: list[str]) -> str:
    head: dict[str, Any] = {"more": page.more}
    if page.next:
        head["next"] = page.next
    return json.dumps(head)[:-1] + ',"objects":[' + ",".join(texts) + "]}"


@bp.get("/api/collections/<collection_id>/objects/")
def objects(collection_id: str) -> Response:
    _, page = _page()
    return _json(_envelope(page, [o.stix_json for o in page.objects]), headers=_page_headers(page.objects))


@bp.get("/api/collections/<collection_id>/manifest/")
def manifest(collection_id: str) -> Response:
    _, page = _page()
    head: dict[str, Any] = {"more": page.more}
    if page.next:
        head["next"] = page.next
    head["objects"] = [{"id": o.stix_id, "date_added": sharing.taxii_timestamp(o.added_at),
                        "version": sharing.version_of(o), "media_type": STIX} for o in page.objects]
    return _json(head, headers=_page_headers(page.objects))


@bp.get("/api/collections/<collection_id>/objects/<object_id>/")
def get_object(collection_id: str, object_id: str) -> Response:
    s, actor = db_session(), current_actor()
    found = sharing.get_collection(s, actor, collection_id)
    versions = sharing.object_versions(s, actor, found, object_id)
    wanted = request.args.get("match[version]", "last").split(",")
    texts = [text for i, (version, text) in enumerate(versions)
             if "all" in wanted or version in wanted or ("last" in wanted and i == len(versions) - 1)
             or ("first" in wanted and i == 0)]
    return _json('{"more":false,"objects":[' + ",".join(texts) + "]}")


@bp.get("/api/collections/<collection_id>/objects/<object_id>/versions/")
def versions(collection_id: str, object_id: str) -> Response:
    s, actor = db_session(), current_actor()
    found = sharing.get_collection(s, actor, collection_id)
    return _json({"more": False, "versions": [v for v, _ in sharing.object_versions(s, actor, found, object_id)]})


def _next_token() -> str | None:
    """The `next` parameter, if it is a token this server could have handed out; BadRequest (400) if not.

    The token is only ever read by sharing's decoder; a forged one that decodes must still hold a moment
    that exists in UTC and an id a database can compare, or the query would fail (a 500) instead."""
    raw = request.args.get("next") or None
    if raw is None:
        return None
    after = sharing._decode_next(raw) if len(raw) <= MAX_TOKEN else None  # BadRequest for one that does not decode
    if after is None or fields.storable_problem(list(after)) is not None:
        raise BadRequest("the next parameter is not one this server handed out; start again without it",
                         field="next")
    return raw


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= 100_000:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return min(int(raw), MAX_LIMIT)


def _added_after() -> dt.datetime | None:
    raw = request.args.get("added_after")
    if not raw:
        return None
    moment = rows.parse_timestamp(raw)
    if moment is None or fields.storable_problem(moment) is not None:
        raise BadRequest("added_after must be a timestamp such as 2026-01-02T03:04:05.000Z", field="added_after")
    return moment


def _match(name: str) -> list[str]:
    raw = request.args.get(f"match[{name}]", "")
    return [v.strip() for v in raw.split(",") if v.strip()]
