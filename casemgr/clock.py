"""The clock every service reads the time from, a collaborator like the audit trail.

Services never call `datetime.now()`: they ask the session's clock (`casemgr.collaborators.clock`), so
that a test can move time forward (a lockout running out, a sign-in going idle, a case becoming
overdue) instead of editing rows, and every timestamp one use case sets is the same instant.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The machine's clock: the one the factory installs unless it is given another."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that stands still until it is set or advanced (for tests, and for replaying events).

    Thread-safe: a live-server test reads it from the server's threads while the test moves it.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _aware(start) if start is not None else dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, when: dt.datetime) -> dt.datetime:
        """Move to `when` (aware; earlier is allowed, as a wall clock may step back). Returns it."""
        with self._lock:
            self._now = _aware(when)
            return self._now

    def advance(self, delta: dt.timedelta | None = None, **units: float) -> dt.datetime:
        """Move forward by `delta` or by timedelta keywords (`advance(minutes=31)`). Returns the new time."""
        step = (delta or dt.timedelta()) + dt.timedelta(**units)
        with self._lock:
            self._now += step
            return self._now


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("a clock keeps aware UTC datetimes; pass tzinfo=datetime.UTC")
    return when.astimezone(dt.UTC)
