"""Who is acting: passed by every adapter to every service, and written to the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from casemgr.auth.models import User


@dataclass(frozen=True)
class Actor:
    user: User | None
    via: str  # web | api | cli
    token_id: int | None = None
    token_issued_by: str | None = None  # who issued the token: its owner, or the operator for automation
    source_ip: str | None = None
    request_id: str | None = None
    system_name: str | None = None  # for CLI operators acting as the system

    @property
    def is_system(self) -> bool:
        return self.user is None and self.system_name is not None

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.username
        return self.system_name or "anonymous"

    @property
    def kind(self) -> str:
        if self.user is None:
            return "system" if self.system_name else "anonymous"
        return "token" if self.token_id is not None else "user"

    @classmethod
    def system(cls, name: str = "cli") -> Actor:
        return cls(user=None, via="cli", system_name=name)

    @classmethod
    def anonymous(cls, via: str, source_ip: str | None = None, request_id: str | None = None) -> Actor:
        return cls(user=None, via=via, source_ip=source_ip, request_id=request_id)
