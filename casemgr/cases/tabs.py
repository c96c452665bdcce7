"""Placeholder pages for the case tabs that later work fills (the report).

Each tab keeps its endpoint name (`cases.evidence_tab`, ...) and URL (/cases/<id>/evidence, ...)
so the tab bar in templates/cases/_layout.html links to it. To build a real tab, delete its line
from PLACEHOLDERS and register the real view under the same endpoint name (the evidence tab is
casemgr/evidence/views.py, added with `app.add_url_rule(..., "cases.evidence_tab", ...)`), or
e.g. `cases_views.bp.add_url_rule("/<int:case_id>/evidence", "evidence_tab", view)`, and render a
template that extends "cases/_layout.html" with active_tab="evidence".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required

from casemgr.cases import service
from casemgr.web import current_actor, db_session

# tab code: (heading, what the tab will hold)
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "report": ("Report", "The case report will be built here: a PDF of the case, its timeline, evidence and "
                         "indicators, for the TLP audience you choose."),
}


def _placeholder(code: str) -> Any:
    heading, coming = PLACEHOLDERS[code]

    @login_required
    def view(case_id: int) -> Any:
        case = service.get_case(db_session(), current_actor(), case_id)
        return render_template("cases/tab_placeholder.html", case=case, active_tab=code, heading=heading,
                               coming=coming)

    view.__name__ = f"{code}_tab"
    return view


def register(bp: Blueprint) -> None:
    """Add the placeholder tabs that are still placeholders to the cases blueprint."""
    for code in PLACEHOLDERS:
        bp.add_url_rule(f"/<int:case_id>/{code}", f"{code}_tab", _placeholder(code), methods=["GET"])
