"""The run page (casemgr/playbooks/run_views.py): steps by phase, forms posted exactly as rendered, a stale
version's 409 shown on the page, hostile titles and instructions inert, the graph at its own URL."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from casemgr.db import Database
from tests.forms import forms_of
from tests.playbooks.test_runs import playbook, step, store_version

HOSTILE = '<script>alert(1)</script>"]; x [label='
STEPS = [
    step("triage", title=HOSTILE, instructions="Read the **report**. <img src=x onerror=alert(1)>",
         inputs=[{"id": "malicious", "label": "Malicious?", "type": "boolean"},
                 {"id": "kind", "label": "Kind", "type": "choice", "choices": ["spam", "phish"]},
                 {"id": "count", "label": "Recipients", "type": "number", "required": False},
                 {"id": "iocs", "label": "Indicators", "type": "indicators", "required": False}]),
    step("block", "containment", depends_on=["triage"]),
    step("review", "post-incident", depends_on=["block"]),
]


@pytest.fixture
def run_url(db: Database, api: Any, open_case: Any, web: Any) -> tuple[Any, str]:
    with db.transaction() as s:
        store_version(s, playbook(STEPS))
    token = api("analyst", "ana")
    case = open_case(token)
    started = token.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"})
    assert started.status_code == 201, started.get_data(as_text=True)
    assert web.login("ana").status_code == 302
    return web, f"/playbook-runs/{started.get_json()['id']}"


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def form_named(html: str, url: str, action: str, button: str) -> Any:
    return next(f for f in forms_of(html, url) if f.url.endswith(action) and button in [v for _, v in f.buttons])


def test_the_run_page_and_its_forms(run_url):
    ana, url = run_url
    html = page(ana, url)
    assert "Identification" in html
    assert "Containment" in html
    assert "0 of 3 steps finished" in html
    assert "<script>alert(1)" not in html  # hostile title and instructions shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror" not in html.replace("onerror=alert(1)&gt;", "")
    assert "<strong>report</strong>" in html
    form_named(html, url, "/steps/triage", "start").submit(ana, button="action")
    html = page(ana, url)
    assert 'data-testid="step-state">in progress' in html
    complete = form_named(html, url, "/steps/triage", "complete")
    assert {"input.malicious", "input.kind", "input.count", "input.iocs", "version", "csrf_token"} <= complete.names()
    done = complete.submit(ana, {"input.malicious": "true", "input.kind": "phish", "input.iocs": "evil.example"})
    assert done.status_code == 302, done.get_data(as_text=True)
    html = page(ana, url)
    assert "1 of 3 steps finished" in html
    assert "phish" in html
    skip = form_named(html, url, "/steps/block", "skip")
    assert skip.submit(ana, {"reason": "already blocked by the mail gateway"}, button="action").status_code == 302
    html = page(ana, url)
    assert "already blocked by the mail gateway" in html


def test_a_missing_input_and_a_stale_version_are_shown_on_the_page(run_url):
    ana, url = run_url
    html = page(ana, url)
    complete = form_named(html, url, "/steps/triage", "complete")
    missing = complete.submit(ana, {"input.kind": "spam"})
    assert missing.status_code == 422
    assert "malicious" in missing.get_data(as_text=True)
    form_named(html, url, "/steps/triage", "start").submit(ana, button="action")  # the step moves on
    stale = complete.submit(ana, {"input.malicious": "false", "input.kind": "spam"})  # the old version
    assert stale.status_code == 409
    assert 'data-testid="step-state">in progress' in stale.get_data(as_text=True)


def test_pause_resume_and_abort(run_url):
    ana, url = run_url
    html = page(ana, url)
    paused = form_named(html, url, "/change", "pause").submit(ana, button="action")
    assert paused.status_code == 302, paused.get_data(as_text=True)
    html = page(ana, url)
    assert "Run paused" in html
    form_named(html, url, "/change", "resume").submit(ana, button="action")
    html = page(ana, url)
    abort = next(f for f in forms_of(html, url) if f.url.endswith("/change") and "reason" in f.names())
    assert abort.submit(ana, {"reason": " "}).status_code == 422  # a reason is required
    assert abort.submit(ana, {"reason": "opened on the wrong case"}).status_code == 302
    html = page(ana, url)
    assert "Run aborted: opened on the wrong case" in html
    assert "/steps/" not in html  # no more step forms


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz dot (make graphviz)")
def test_the_graph_is_served_inert(run_url):
    ana, url = run_url
    assert f'src="{url}/graph.svg"' in page(ana, url)
    svg = ana.get(url + "/graph.svg")
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    assert "default-src 'none'" in svg.headers["Content-Security-Policy"]
    body = svg.get_data(as_text=True)
    assert body.startswith("<svg")
    assert "<script" not in body
    assert 'id="step&#45;triage"' in body  # Graphviz writes the hyphen as an entity


def test_a_missing_run_is_404(run_url):
    web, _ = run_url
    assert web.get("/playbook-runs/999999").status_code == 404
    assert web.get("/playbook-runs/999999/graph.svg").status_code == 404
