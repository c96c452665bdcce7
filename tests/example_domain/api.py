"""/api/v1/example: the example domain's one endpoint."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from casemgr.api import ApiBlueprint

bp = ApiBlueprint("example", __name__, url_prefix="/example")


class GreetingOut(BaseModel):
    greeting: str


@bp.operation("/greeting", "GET", "A greeting from the example domain", response=GreetingOut)
def greeting() -> Any:
    return {"greeting": "hello"}
