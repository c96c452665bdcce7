"""What the evidence API and web views share: reading an upload from the request body stream,
answering with a content stream, and keeping recorded integrity failures across an error reply."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any
from urllib.parse import quote

from flask import Response, g, request
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.errors import BadRequest, TooLarge
from casemgr.evidence.intake import MAX_FIELD_BYTES, MAX_FIELDS, MultipartUpload
from casemgr.evidence.schemas import NewEvidence
from casemgr.evidence.service import Content, ContentIntegrityError, IntegrityFailure
from casemgr.fields import parse
from casemgr.web import BodyLimit, commit_now, database, db_session, larger_body

# Room for the multipart framing and the optional text fields next to the file itself.
FORM_OVERHEAD = MAX_FIELDS * (MAX_FIELD_BYTES + 512) + 64 * 1024
# The upload routes take a body up to the file limit (casemgr.web refuses larger ones before they are read).
upload_body = larger_body(BodyLimit("CASEMGR_MAX_UPLOAD_BYTES", lambda settings: settings.max_upload_bytes,
                                    overhead=FORM_OVERHEAD, field="file"))


class RequestUpload:
    """The request's multipart body as an evidence Upload (see service.add_evidence).

    Reads `request.stream` directly; `request.form` and `request.files` are never touched, so
    werkzeug never spools the file. A declared Content-Length beyond the limit is refused before
    anything is read.
    """

    def __init__(self, session: Session) -> None:
        if request.mimetype != "multipart/form-data":
            raise BadRequest("send the file as multipart/form-data in a field named 'file'", field="file")
        limit = collaborators.vault(session).max_upload_bytes
        if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
            raise TooLarge(f"the file is larger than the maximum of {limit} bytes", field="file")
        self._multipart = MultipartUpload(request.stream.read, request.mimetype_params.get("boundary", ""))

    @property
    def filename(self) -> str | None:
        return self._multipart.filename

    def chunks(self) -> Iterator[bytes]:
        return self._multipart.chunks()

    def command(self) -> NewEvidence:
        data = dict(self._multipart.fields)
        data.pop("csrf_token", None)
        return parse(NewEvidence, data)  # type: ignore[no-any-return,unused-ignore]


def write_session() -> Session:
    """The request's session as a write session even for GET (reading content appends custody)."""
    if "db_session" not in g:
        g.db_session = database().session(write=True)
    return db_session()


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """RFC 6266: an ASCII fallback `filename` and the exact UTF-8 name in `filename*`."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in fallback).strip() or "evidence"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def content_response(content: Content, *, inline: bool = False) -> Response:
    """Stream decrypted content. Content-Length is the recorded size, so a stream the server
    breaks off on an integrity failure is visibly incomplete to the client.

    The request's work (the custody event) is committed first, then the first chunk is pulled
    here: content that fails before its first byte (a small file, or a first segment that does not
    authenticate) gets a proper integrity_failure error reply instead of a broken stream."""
    item = content.item
    commit_now()  # the failure is recorded in a transaction of its own, which needs the item's row lock
    try:
        first = next(content.chunks, b"")
    except ContentIntegrityError as exc:
        raise IntegrityFailure(str(exc)) from None
    response = Response(itertools.chain((first,), content.chunks), mimetype="application/octet-stream",
                        direct_passthrough=True)
    response.headers["Content-Length"] = str(item.size)
    response.headers["Content-Disposition"] = content_disposition(item.filename, "inline" if inline else "attachment")
    response.headers["X-Evidence-SHA256"] = item.sha256
    return response


def zip_response(name: str, chunks: Iterator[bytes]) -> Response:
    response = Response(chunks, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition(name)
    return response


def keeps_failures(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Commit a recorded integrity failure (custody, audit, alarm) before the error reply rolls back."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IntegrityFailure:
            commit_now()
            raise

    return wrapper
