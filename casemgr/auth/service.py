"""Accounts, logins, browser sessions, second factors and API tokens.

The one import surface for the auth service (`from casemgr.auth import service`); the code is in
users.py (accounts), signin.py (passwords, lockout, sessions, second factor), tokens.py (API tokens)
and settings.py (instance settings, the MFA policy).
"""

from casemgr.auth.settings import MFA_SETTING, get_mfa_policy, read_setting, set_mfa_policy, write_setting
from casemgr.auth.signin import (
    GENERIC_LOGIN_ERROR,
    RECOVERY_CODES,
    TOO_MANY_ATTEMPTS,
    TOUCH_EVERY,
    LoginResult,
    authenticate,
    begin_totp_enrollment,
    change_own_password,
    check_totp,
    confirm_totp_enrollment,
    count_sign_in_attempt,
    disable_totp,
    end_session,
    find_session,
    mark_mfa_passed,
    mfa_required,
    recovery_codes_left,
    regenerate_recovery_codes,
    second_factor_login,
    start_session,
)
from casemgr.auth.tokens import (
    TOKEN_PREFIX,
    IssuedToken,
    all_tokens,
    create_token,
    find_token,
    list_tokens,
    page_own_tokens,
    revoke_token,
)
from casemgr.auth.users import (
    PasswordReset,
    admin_exists,
    create_user,
    get_user,
    list_users,
    page_users,
    require_admin,
    reset_mfa,
    reset_password,
    unlock_user,
    update_user,
)

__all__ = [
    "require_admin", "get_user", "create_user", "list_users", "page_users", "admin_exists", "update_user",
    "PasswordReset", "reset_password", "unlock_user", "reset_mfa", "MFA_SETTING", "read_setting", "write_setting",
    "get_mfa_policy", "set_mfa_policy", "TOUCH_EVERY", "change_own_password", "LoginResult", "GENERIC_LOGIN_ERROR",
    "authenticate", "TOO_MANY_ATTEMPTS", "count_sign_in_attempt", "mfa_required", "start_session", "find_session",
    "end_session", "mark_mfa_passed", "check_totp", "second_factor_login", "RECOVERY_CODES",
    "regenerate_recovery_codes", "recovery_codes_left", "begin_totp_enrollment", "confirm_totp_enrollment",
    "disable_totp", "TOKEN_PREFIX", "IssuedToken", "create_token", "list_tokens", "page_own_tokens", "all_tokens",
    "revoke_token", "find_token",
]
