"""Sign-in, second factor, own account and tokens, and the admin's user management pages."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from casemgr.auth import roles, service
from casemgr.auth.actor import Actor
from casemgr.auth.schemas import MfaPolicy, NewToken, NewUser, PasswordChange, UserUpdate
from casemgr.fields import parse
from casemgr.web import (
    SESSION_KEY,
    commit_now,
    current_actor,
    db_session,
    form_action,
    form_data,
    redirect_with,
    safe_next,
)

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("auth/login.html", next=safe_next(request.args.get("next")))
    s = db_session()
    anonymous = current_actor()
    wait = _too_many_attempts(anonymous)
    if wait is not None:
        return render_template("auth/login.html", error=TOO_MANY, username=request.form.get("username", ""),
                               next=safe_next(request.form.get("next"))), 429, {"Retry-After": str(wait)}
    result = service.authenticate(s, anonymous, request.form.get("username", ""), request.form.get("password", ""))
    if not result.ok or result.user is None:
        commit_now()  # keep the failure count and the audit entry
        return render_template("auth/login.html", error=result.error, username=request.form.get("username", ""),
                               next=safe_next(request.form.get("next"))), 429 if result.locked else 401
    needs_mfa = service.mfa_required(s, result.user)
    raw = service.start_session(s, anonymous, result.user, user_agent=request.user_agent.string)
    session.clear()  # a new session id at every login
    session[SESSION_KEY] = raw
    session.permanent = True
    target = safe_next(request.form.get("next")) or url_for("home.index")
    if needs_mfa:
        session["after_mfa"] = target
        return redirect(url_for("auth.mfa"))
    return redirect(target)


TOO_MANY = service.TOO_MANY_ATTEMPTS  # the one wording, shared with the second factor's limit


def _too_many_attempts(actor: Actor) -> int | None:
    """Count a password check from the actor's address; the seconds to wait when over the limit."""
    wait = service.count_sign_in_attempt(db_session(), actor)
    commit_now()  # the count holds whatever happens next, and no lock is held during the password work
    return wait


@bp.route("/login/mfa", methods=["GET", "POST"])
@login_required
def mfa() -> Any:
    actor = current_actor()
    assert actor.user is not None
    if not current_user.mfa_pending:
        return redirect(url_for("home.index"))
    if not actor.user.totp_enabled:
        return redirect(url_for("auth.mfa_enroll"))
    if request.method == "GET":
        return render_template("auth/mfa.html")
    result = service.second_factor_login(db_session(), actor, session[SESSION_KEY], request.form.get("code", ""))
    if result.ok:
        return redirect(safe_next(session.pop("after_mfa", None)) or url_for("home.index"))
    commit_now()  # keep the failure count, the audit entries and a lockout
    if result.locked:
        session.clear()
        return render_template("auth/login.html", error=result.error), 429
    return render_template("auth/mfa.html", error=result.error), 401


@bp.post("/logout")
def logout() -> Any:
    raw = session.get(SESSION_KEY)
    if raw:
        service.end_session(db_session(), current_actor(), raw)
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _account_page(status: int = 200, **extra: Any) -> Any:
    actor = current_actor()
    s = db_session()
    tokens = service.list_tokens(s, actor)
    assert actor.user is not None
    return render_template("auth/account.html", user=actor.user, tokens=tokens,
                           recovery_codes_left=service.recovery_codes_left(s, actor.user), **extra), status


@bp.get("/account")
@login_required
def account() -> Any:
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    actor = current_actor()
    if _too_many_attempts(actor) is not None:
        return _account_page(429, error=TOO_MANY, error_field="current_password")
    return form_action(
        lambda: service.change_own_password(db_session(), actor, parse(PasswordChange, form_data()),
                                            current_session=session.get(SESSION_KEY)),
        page=_account_page, keep_failures=True,  # keep a failed check's count (nothing else was changed)
        done=lambda ended: redirect_with(f"Your password was changed; {ended} other session(s) of yours were"
                                         " signed out." if ended else "Your password was changed.",
                                         url_for("auth.account")))


@bp.route("/account/password/new", methods=["GET", "POST"])
@login_required
def forced_password_change() -> Any:
    """The page a user whose password an admin reset (or the first admin) sees before anything else."""
    if not current_user.must_change_password:
        return redirect(url_for("home.index"))
    if request.method == "GET":
        return render_template("auth/password_change.html")
    actor = current_actor()
    if _too_many_attempts(actor) is not None:
        return _password_change_page(429, error=TOO_MANY, error_field="current_password")
    return form_action(
        lambda: service.change_own_password(db_session(), actor, parse(PasswordChange, form_data()),
                                            current_session=session.get(SESSION_KEY)),
        page=_password_change_page, keep_failures=True,  # keep a failed check's count (nothing else was changed)
        done=lambda _ended: redirect_with("Your password was changed.", url_for("home.index")))


def _password_change_page(status: int, **error: Any) -> Any:
    return render_template("auth/password_change.html", **error), status


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    actor = current_actor()
    return form_action(lambda: service.create_token(db_session(), actor, actor.name, parse(NewToken, _token_form())),
                       page=_account_page, done=_new_token_page)


def _new_token_page(issued: service.IssuedToken) -> Any:
    """The account page with the new token's secret, shown this once."""
    return _account_page(201, new_token=issued.secret, new_token_name=issued.token.name)


def _token_form() -> dict[str, Any]:
    data = form_data()
    if data.get("expires_days", "") == "":
        data["expires_days"] = None
    return data


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    token = service.revoke_token(db_session(), current_actor(), token_id)
    flash(f"Token {token.name!r} was revoked.", "info")
    return redirect(request.form.get("back") == "admin" and url_for("auth.admin_tokens") or url_for("auth.account"))


@bp.route("/account/mfa", methods=["GET", "POST"])
@login_required
def mfa_enroll() -> Any:
    actor = current_actor()
    s = db_session()
    if current_user.mfa_pending and actor.user is not None and actor.user.totp_enabled:
        return redirect(url_for("auth.mfa"))  # a sign-in waiting for its code may not touch the factor
    action = request.form.get("action") if request.method == "POST" else None
    step = ENROLL_STEPS.get(action or "")
    if step is None:
        return render_template("auth/enroll.html", required=current_user.mfa_pending)
    return form_action(lambda: step(s, actor), page=partial(_enroll_refused, pending=action == "confirm"),
                       done=lambda reply: reply,
                       keep_failures=action in {"confirm", "disable", "recovery_codes"})  # a failed check's count


def _enroll_begin(s: Any, actor: Actor) -> Any:
    uri = service.begin_totp_enrollment(s, actor)
    return render_template("auth/enroll.html", qr=_qr_data_uri(uri), uri=uri)


def _enroll_confirm(s: Any, actor: Actor) -> Any:
    codes = service.confirm_totp_enrollment(s, actor, request.form.get("code", ""))
    if SESSION_KEY in session:
        service.mark_mfa_passed(s, session[SESSION_KEY])
    return render_template("auth/enroll.html", recovery_codes=codes, enabled=True,
                           then=safe_next(session.pop("after_mfa", None)) or url_for("auth.account"))


def _enroll_new_codes(s: Any, actor: Actor) -> Any:
    codes = service.regenerate_recovery_codes(s, actor, request.form.get("password", ""))
    return render_template("auth/enroll.html", recovery_codes=codes, then=url_for("auth.account"))


def _enroll_disable(s: Any, actor: Actor) -> Any:
    service.disable_totp(s, actor, request.form.get("password", ""))
    return redirect_with("Two-factor authentication is off.", url_for("auth.account"))


ENROLL_STEPS = {"begin": _enroll_begin, "confirm": _enroll_confirm, "recovery_codes": _enroll_new_codes,
                "disable": _enroll_disable}


def _enroll_refused(status: int, pending: bool, error: str, error_field: str | None) -> Any:
    return render_template("auth/enroll.html", error=error, pending=pending), status


def _qr_data_uri(uri: str) -> str:
    svg = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


# ---------------------------------------------------------------- admin

def _admin() -> Actor:
    actor = current_actor()
    service.require_admin(actor)  # before a form is read: the admin pages are for `user.manage` only
    return actor


def _users_page(status: int = 200, **extra: Any) -> Any:
    s = db_session()
    actor = _admin()
    return render_template("auth/users.html", users=service.list_users(s, actor), roles=roles.role_choices(s),
                           mfa_roles=service.get_mfa_policy(s), **extra), status


@bp.get("/admin/users")
@login_required
def admin_users() -> Any:
    return _users_page()


@bp.post("/admin/users")
@login_required
def admin_create_user() -> Any:
    return form_action(lambda: service.create_user(db_session(), _admin(), parse(NewUser, form_data())),
                       page=partial(_users_page, form=form_data()),
                       done=lambda user: redirect_with(f"User {user.username} was created.",
                                                       url_for("auth.admin_users")))


@bp.post("/admin/users/<username>")
@login_required
def admin_update_user(username: str) -> Any:
    data = form_data()
    if "disabled" in data:
        data["disabled"] = data["disabled"] == "true"
    return form_action(lambda: service.update_user(db_session(), _admin(), username, parse(UserUpdate, data)),
                       page=_users_page,
                       done=lambda _user: redirect_with(f"User {username} was updated.", url_for("auth.admin_users")))


@bp.post("/admin/users/<username>/unlock")
@login_required
def admin_unlock_user(username: str) -> Any:
    service.unlock_user(db_session(), _admin(), username)
    flash(f"User {username} was unlocked.", "info")
    return redirect(url_for("auth.admin_users"))


@bp.post("/admin/users/<username>/reset-password")
@login_required
def admin_reset_password(username: str) -> Any:
    reset = service.reset_password(db_session(), _admin(), username)
    return _users_page(200, temporary_password=reset.password, reset_user=reset.user.username,
                       sessions_ended=reset.sessions_ended)


@bp.post("/admin/users/<username>/reset-mfa")
@login_required
def admin_reset_mfa(username: str) -> Any:
    service.reset_mfa(db_session(), _admin(), username)
    flash(f"The second factor of {username} was reset; their sessions were ended.", "info")
    return redirect(url_for("auth.admin_users"))


@bp.post("/admin/users/<username>/tokens")
@login_required
def admin_create_token(username: str) -> Any:
    return form_action(lambda: service.create_token(db_session(), _admin(), username, parse(NewToken, _token_form())),
                       page=_users_page, done=_new_token_page)


@bp.post("/admin/settings/mfa")
@login_required
def admin_mfa_policy() -> Any:
    roles = request.form.getlist("required_roles")
    service.set_mfa_policy(db_session(), _admin(), parse(MfaPolicy, {"required_roles": roles}))
    flash("The second-factor policy was saved.", "info")
    return redirect(url_for("auth.admin_users"))


@bp.get("/admin/tokens")
@login_required
def admin_tokens() -> Any:
    return render_template("auth/tokens.html", tokens=service.all_tokens(db_session(), _admin()),
                           request_id=g.get("request_id"))
