"""The example domain's one page."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("example", __name__, url_prefix="/example")


@bp.get("/")
@login_required
def index() -> str:
    return "the example domain's page"
