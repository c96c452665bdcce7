"""Request plumbing shared by the web UI and the API: sessions, who is signed in, CSRF,
security headers and the single error handler."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import flask
from flask import Flask, Response, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import IntegerConverter

from casemgr import fields
from casemgr.auth import permissions
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.config import Settings
from casemgr.db import Database
from casemgr.errors import BadRequest, DomainError, Invalid, TooLarge

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)
SESSION_KEY = "sid"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass
class Principal:
    """Who a request is from, as flask-login sees it."""

    user_id: int
    username: str
    role: str  # a role code, built-in or custom
    token_id: int | None = None
    token_issued_by: str | None = None
    mfa_pending: bool = False
    must_change_password: bool = False
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    # What the user may do, resolved once from their account (casemgr/auth/permissions.py), for the page
    # chrome (the navigation); every service checks the actor again.
    granted: frozenset[permissions.Permission] = frozenset()

    def get_id(self) -> str:
        return str(self.user_id)

    def may(self, name: str) -> bool:
        """Whether the signed-in user holds the permission `name` (`may('audit.read')` in a template).
        Raises UnknownPermission for a name not in the registry."""
        return permissions.get(name) in self.granted


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def database() -> Database:
    from flask import current_app

    return current_app.extensions["casemgr.db"]


# ---------------------------------------------------------------- request body limits

class Request(flask.Request):
    """Flask's request, keeping the file parts of an ordinary form in memory.

    Werkzeug spools a file part over 500 KB to a temporary file, so anyone could fill the temp file
    system, even without signing in (the CSRF check parses the form before it fails). The body limit
    bounds what is held here; the routes that take large files read the body as a stream of their own.
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()


@dataclass(frozen=True)
class BodyLimit:
    """How large a route's request body may be: the value of `setting`, read by `limit`, plus
    `overhead` bytes of room (the multipart framing and small fields around an uploaded file)."""

    setting: str
    limit: Callable[[Settings], int]
    overhead: int = 0
    field: str | None = None


BODY_LIMIT = BodyLimit("CASEMGR_MAX_BODY_BYTES", lambda settings: settings.max_body_bytes)


def larger_body(rule: BodyLimit) -> Callable[[F], F]:
    """Let a route take a body larger than CASEMGR_MAX_BODY_BYTES (an evidence upload, a STIX import),
    which it reads as a stream against a limit of its own."""

    def mark(view: F) -> F:
        view.body_limit = rule  # type: ignore[attr-defined]
        return view

    return mark


def _body_limit() -> tuple[BodyLimit, int]:
    """The request's route's body limit and its setting's value."""
    view = flask.current_app.view_functions.get(request.endpoint or "")
    rule: BodyLimit = getattr(view, "body_limit", BODY_LIMIT)
    return rule, rule.limit(flask.current_app.extensions["casemgr.settings"])


def _too_large(rule: BodyLimit, value: int) -> TooLarge:
    return TooLarge(f"the request body is larger than the maximum of {value:,} bytes ({rule.setting})",
                    field=rule.field)


def _limit_body() -> None:
    """Before anything else (the CSRF check parsing a form, loading who is signed in, the sign-in rate
    limit): a body declared larger than its route takes is refused unread; one of unknown length is
    cut off where it passes the limit (werkzeug raises RequestEntityTooLarge reading it)."""
    rule, value = _body_limit()
    request.max_content_length = value + rule.overhead
    if request.content_length is not None and request.content_length > value + rule.overhead:
        raise _too_large(rule, value)


def db_session() -> Session:
    """The request's session: committed after a successful response, rolled back otherwise."""
    if "db_session" not in g:
        g.db_session = database().session(write=request.method not in {"GET", "HEAD", "OPTIONS"})
    return g.db_session


def stream_with_session(produce: Callable[[Session], Iterator[T]]) -> Iterator[T]:
    """The body of a response that reads the database while it is being sent.

    The request's session is closed when the view returns, before a streamed body is sent (and
    Flask's stream_with_context would run the request teardown before the body, not after). So
    `produce` gets a read session of its own, closed when the body is finished, fails, or is
    closed unread (the WSGI server closes the body, also when the client goes away). Errors
    `produce` raises before it returns (access checks) come out in the view as usual.
    """
    session = database().session(write=False)
    try:
        chunks = produce(session)
    except BaseException:
        session.close()
        raise
    return _SessionStream(session, chunks)


class _SessionStream(Iterator[T]):
    def __init__(self, session: Session, chunks: Iterator[T]) -> None:
        self._session, self._chunks = session, chunks

    def __next__(self) -> T:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._session.close()


def commit_now() -> None:
    """Commit what the request did so far, e.g. a failed-login count before an error page."""
    db_session().commit()


def current_actor(via: str | None = None, session: Session | None = None) -> Actor:
    """Who the request is from; the user is loaded in `session` (default: the request's session)."""
    principal = current_user
    via = via or ("api" if request.path.startswith("/api/") or request.path.startswith("/taxii2/") else "web")
    if not getattr(principal, "is_authenticated", False):
        return Actor.anonymous(via, request.remote_addr, g.get("request_id"))
    user = (session or db_session()).get(User, principal.user_id)
    return Actor(user=user, via=via, token_id=principal.token_id, token_issued_by=principal.token_issued_by,
                 source_ip=request.remote_addr, request_id=g.get("request_id"))


@contextmanager
def long_request_actor() -> Iterator[tuple[Session, Actor]]:
    """The actor, loaded in a short read session of its own, for requests that stream for long
    (evidence uploads): the request's write transaction (on SQLite the database's single write
    lock) must not be opened before the stream has been read."""
    with database().session(write=False) as s:
        yield s, current_actor(session=s)


def json_body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # silent=True covers malformed JSON, not JSON nested deeper than the decoder goes
        raise BadRequest("the request body nests arrays or objects too deeply") from None
    if data is None:
        if request.get_data(cache=True):
            raise BadRequest("the request body is not valid JSON")
        raise BadRequest("a JSON request body is required (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise Invalid("the request body must be a JSON object", field=None)
    return data


def _at_most(limit: int) -> str:
    """A regular expression matching the decimal numbers from 0 to `limit` (at most as many digits)."""
    digits = str(limit)
    choices = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - i - 1
            choices.append(digits[:i] + f"[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a whole number that a database id can be (`fields.MAX_ID`). A larger number
    matches no route, so it is a 404 like any id that does not exist, whatever the method, instead of
    reaching the database driver, which cannot bind it."""

    regex = _at_most(fields.MAX_ID)


def refuse_nul_in_request() -> None:
    """No path segment, query parameter or form field may hold a NUL character (PostgreSQL cannot
    store or compare one). Raises Invalid naming the parameter. A multipart body is looked at only
    if something has parsed it already (evidence uploads stream theirs; their fields are checked
    by the command they become)."""
    sources: list[Any] = [request.view_args or {}, request.args]
    if request.mimetype == "application/x-www-form-urlencoded" or "form" in request.__dict__:
        sources.append(request.form)
    for source in sources:
        for name, value in (source.items(multi=True) if hasattr(source, "getlist") else source.items()):
            if fields.has_nul(name) or fields.has_nul(value):
                shown = name.replace(fields.NUL, "\\x00")
                raise Invalid(f"{shown}: {fields.NUL_MESSAGE}", field=shown)


_NOT_IN_LOCATION = re.compile(r"[\x00-\x20\x7f]")


def _redirect(location: str, code: int = 302) -> Response:
    """A redirect whose Location has control characters and spaces percent-encoded: a target built from
    input (e.g. `next` after sign-in) can hold a line break, which no header may carry (werkzeug raises)."""
    from flask import current_app
    from werkzeug.utils import redirect as werkzeug_redirect

    location = _NOT_IN_LOCATION.sub(lambda m: f"%{ord(m.group()):02X}", location)
    return werkzeug_redirect(location, code, Response=current_app.response_class)  # type: ignore[return-value]


def _load_principal(req: Any) -> Principal | None:
    db = database()
    if req.path.startswith("/api/") or req.path.startswith("/taxii2/"):
        header = req.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        with db.transaction() as s:
            token = auth.find_token(s, raw.strip())
            if token is None:
                return None
            return Principal(token.user.id, token.user.username, token.user.role, token_id=token.id,
                             token_issued_by=token.issued_by, granted=permissions.of_user(token.user))
    raw = session.get(SESSION_KEY)
    if not raw:
        return None
    with db.transaction() as s:
        login = auth.find_session(s, raw)
        if login is None:
            session.pop(SESSION_KEY, None)
            g.session_ended = True
            return None
        pending = not login.mfa_passed and auth.mfa_required(s, login.user)
        return Principal(login.user.id, login.user.username, login.user.role, mfa_pending=pending,
                         must_change_password=login.user.must_change_password,
                         granted=permissions.of_user(login.user))


MFA_ALLOWED_ENDPOINTS = {"auth.mfa", "auth.mfa_enroll", "auth.logout", "static", "home.healthz"}
# A user who must choose a new password (reset by an admin, the first admin) sees nothing else first.
PASSWORD_CHANGE_ALLOWED_ENDPOINTS = {"auth.forced_password_change", "auth.logout", "static", "home.healthz"}


def init_web(app: Flask, db: Database) -> None:
    app.extensions["casemgr.db"] = db
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its rules
    app.session_interface = SessionInterface()
    app.request_class = Request
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)
    CSRFProtect(app)
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in to see this page."
    manager.request_loader(_load_principal)

    @manager.unauthorized_handler
    def _unauthorized() -> Any:
        if request.path.startswith("/api/"):
            return _error_response(401, "unauthorized", "a valid API token is required"
                                   " (Authorization: Bearer <token>)")
        if g.get("session_ended"):
            flash("Your session expired; please sign in again.", "warning")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))

    app.before_request(refuse_nul_in_request)
    app.redirect = _redirect  # type: ignore[method-assign]  # what flask.redirect calls, for every redirect

    @app.before_request
    def _before() -> Any:
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
        if request.endpoint in MFA_ALLOWED_ENDPOINTS or request.path.startswith("/api/"):
            return None
        principal = current_user
        if getattr(principal, "is_authenticated", False) and principal.mfa_pending:
            return redirect(url_for("auth.mfa"))
        if (getattr(principal, "must_change_password", False)
                and request.endpoint not in PASSWORD_CHANGE_ALLOWED_ENDPOINTS):
            return redirect(url_for("auth.forced_password_change"))
        return None

    @app.after_request
    def _after(response: Response) -> Response:
        s = g.pop("db_session", None)
        if s is not None:
            try:
                if response.status_code < 400:
                    s.commit()
                else:
                    s.rollback()
            finally:
                s.close()
        _security_headers(response)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        s = g.pop("db_session", None)
        if s is not None:
            s.rollback()
            s.close()

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> Any:
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.to_dict()}), exc.status
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return _error_response(400, "csrf", f"the form's security token is missing or stale ({exc.description});"
                               " reload the page and try again")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code == 413:  # a body of unknown length cut off at the route's limit
            return _domain_error(_too_large(*_body_limit()))
        messages = {404: "there is nothing here", 405: "that method is not allowed here"}
        response = flask.make_response(_error_response(code, exc.name.lower().replace(" ", "_"),
                                                 messages.get(code, exc.description or "")))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # TRACE, PROPFIND, BREW...: what is allowed
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error in request %s", g.get("request_id"))
        return _error_response(500, "internal", f"something went wrong on our side (request {g.get('request_id')})")


def _error_response(status: int, code: str, message: str) -> Any:
    if request.path.startswith("/api/"):
        return jsonify({"error": {"code": code, "message": message, "field": None}}), status
    return render_template("error.html", status=status, message=message), status


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _security_headers(response: Response) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: Flask-WTF checks the Referer of form posts over HTTPS.
    h["Referrer-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint != "static":
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    if request.is_secure:
        h["Strict-Transport-Security"] = "max-age=31536000"


def form_data() -> dict[str, Any]:
    """The submitted form without the CSRF field (already checked by CSRFProtect)."""
    data = request.form.to_dict()
    data.pop("csrf_token", None)
    return data


def form_action(call: Callable[[], T], *, page: Callable[..., Any], done: Callable[[T], Any],
                keep_failures: bool = False, raise_statuses: Collection[int] = ()) -> Any:
    """Run what a page's form asks for, the one way every view does it.

    `call()` parses the form into a command and calls the service; `done(result)` is the reply to
    success (usually `redirect_with`, or a page showing the result). A DomainError from `call`
    re-renders the form's page, `page(exc.status, error=exc.message, error_field=exc.field)`, so the
    user sees what was wrong and where, with their values (bind them into `page` with
    functools.partial) and the error's status.

    Before re-rendering, what the action flushed is rolled back: the page then shows the data as it
    was, and on PostgreSQL a failed statement does not leave the transaction unusable for the page's
    own queries. `keep_failures` commits instead, for an action whose failure is itself a record to
    keep (a failed password check's count and audit entry); the service raises only after writing
    nothing else. An error whose status is in `raise_statuses` is not shown on the form but on the
    error page (e.g. 404: there is no page to show it on).
    """
    try:
        result = call()
    except DomainError as exc:
        if exc.status in raise_statuses:
            raise
        if keep_failures:
            commit_now()
        else:
            db_session().rollback()
        return page(exc.status, error=exc.message, error_field=exc.field)
    return done(result)


def redirect_with(message: str, target: str, category: str = "info") -> Response:
    """The reply to a form that worked: `message` flashed on the page at `target`."""
    flash(message, category)
    return redirect(target)  # type: ignore[return-value]


def safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after login (no open redirects); anything else gives None.

    Browsers drop tabs and newlines anywhere in a URL, trim spaces and control characters at its
    ends and read a backslash as a slash, so `/<tab>/evil.example/` would reach them as
    `//evil.example/`, another site. A target with any of those is refused rather than cleaned,
    and what remains must parse (as urllib does) with neither a scheme nor a host.
    """
    if not target or len(target) > 2048 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def csrf_exempt(app: Flask, blueprint: Any) -> None:
    """The API authenticates with bearer tokens only (never cookies), so it needs no CSRF token.

    Flask-WTF matches the request's own blueprint only, so each nested domain blueprint
    ("api.auth", "api.audit", ...) is exempted too; call this after registering the blueprint.
    """
    csrf = app.extensions["csrf"]
    for name, registered in app.blueprints.items():
        if name == blueprint.name or name.startswith(blueprint.name + "."):
            csrf.exempt(registered)
