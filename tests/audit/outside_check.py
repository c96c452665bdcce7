"""The export checker that docs/audit-log.md gives outsiders, taken from the document itself so that the tests
check exports exactly as the document tells people to: with hashlib, rfc8785 and cryptography, never casemgr's
code. `check_jsonl(text, key_pem)` and `check_csv(text, key_pem)` return the problems found (none: proven)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"


def script() -> str:
    section = DOC.read_text(encoding="utf-8").split("### Checking an export without casemgr", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "docs/audit-log.md has no checker script"
    return found.group(1)


_namespace: dict[str, object] = {"__name__": "check_audit_export"}
exec(compile(script(), str(DOC), "exec"), _namespace)  # noqa: S102 - the document's own script, on purpose
check_jsonl: Callable[[str, str], list[str]] = _namespace["check_jsonl"]  # type: ignore[assignment]
check_csv: Callable[[str, str], list[str]] = _namespace["check_csv"]  # type: ignore[assignment]
