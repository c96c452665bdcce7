"""The run graph: Graphviz lays out the steps by phase, coloured by state; hostile titles stay inert."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET  # noqa: S405 (parsing our own Graphviz output)

import pytest

from casemgr.playbooks import graph
from casemgr.playbooks.definition import Playbook
from casemgr.playbooks.models import StepState

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz dot (make graphviz)")
SVG = "{http://www.w3.org/2000/svg}"


def playbook(**titles: str) -> Playbook:
    steps = [
        {"id": "triage", "title": titles.get("triage", "Triage the report"), "phase": "identification"},
        {"id": "block", "title": titles.get("block", "Block the sender"), "phase": "containment",
         "depends_on": ["triage"]},
        {"id": "purge", "title": titles.get("purge", "Purge the messages"), "phase": "containment",
         "depends_on": ["triage"]},
        {"id": "review", "title": titles.get("review", "Lessons learned"), "phase": "post-incident",
         "depends_on": ["block", "purge"]},
    ]
    return Playbook.model_validate({"id": "phishing-test", "title": "Phishing", "version": "1.0.0", "steps": steps})


def nodes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # noqa: S314
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("node")}


def text_of(g: ET.Element) -> str:
    return " ".join(t.text or "" for t in g.iter(f"{SVG}text"))


def test_nodes_edges_and_phases():
    svg = graph.svg(playbook(), {"triage": StepState.DONE})
    assert svg.startswith("<svg")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    found = nodes(svg)
    assert set(found) == {"step-triage", "step-block", "step-purge", "step-review"}
    assert text_of(found["step-block"]) == "Block the sender"
    root = ET.fromstring(svg)  # noqa: S314
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == 4
    clusters = [text_of(g) for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"]
    assert any(c.startswith("Identification") for c in clusters)
    assert any(c.startswith("Containment") for c in clusters)
    assert any(c.startswith("Post-incident") for c in clusters)
    assert not any(c.startswith("Recovery") for c in clusters)  # a phase without steps has no box


def test_colour_by_state():
    states = {"triage": StepState.DONE, "block": StepState.IN_PROGRESS, "purge": StepState.READY}
    found = nodes(graph.svg(playbook(), states))

    def fill(step: str) -> str:
        return next(found[step].iter(f"{SVG}path")).get("fill", "")

    assert fill("step-triage") == graph.COLOURS[StepState.DONE]
    assert fill("step-block") == graph.COLOURS[StepState.IN_PROGRESS]
    assert fill("step-purge") == graph.COLOURS[StepState.READY]
    assert fill("step-review") == graph.COLOURS[StepState.PENDING]  # no state given: pending
    assert "state-in_progress" in found["step-block"].get("class", "")


def test_hostile_titles_are_inert():
    hostile = {
        "triage": '<script>alert(1)</script>',
        "block": '"]; x [label="injected"]; y [URL="javascript:alert(1)',
        "purge": "back\\slash \\N \\G &lt;b&gt; &amp;",
    }
    svg = graph.svg(playbook(**hostile), {})
    found = nodes(svg)  # still well-formed XML, still exactly four steps: nothing was added
    assert set(found) == {"step-triage", "step-block", "step-purge", "step-review"}
    assert "<script" not in svg
    assert "<a " not in svg
    assert "xlink:href" not in svg
    assert text_of(found["step-triage"]) == "<script>alert(1)</script>"  # shown as typed
    assert text_of(found["step-block"]).startswith('"]; x [label="injected"]')
    assert text_of(found["step-purge"]) == "back\\slash \\N \\G &lt;b&gt; &amp;"
    assert len(re.findall(r'class="node', svg)) == 4


def test_long_titles_are_shortened():
    found = nodes(graph.svg(playbook(triage="x" * 200), {}))
    assert text_of(found["step-triage"]) == "x" * 57 + "..."


def test_missing_dot_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH on which there is no dot
    with pytest.raises(graph.GraphUnavailable, match="Graphviz is not installed"):
        graph.svg(playbook(triage="only drawn without dot"), {})
