"""The graph of a playbook run: its steps and their dependencies, laid out by Graphviz `dot`, as SVG.

Step titles are text a playbook author wrote, so they are hostile: every label is escaped for DOT (`\\` and
`"`, so no title can close its string and add attributes or nodes) and `&` becomes `&amp;`, so Graphviz shows
an entity as typed instead of decoding it; Graphviz itself escapes `<` and `>` in the SVG it writes. Nodes are
named `s0`, `s1`, ... (never by anything a person wrote), so the `<title>` and comments Graphviz emits carry no
author text. The page embeds the SVG with `<img>`, where no script in it could ever run.

`dot` runs as a subprocess (no shell, input on stdin, a timeout). It takes tens of milliseconds for a large
playbook, so the result is memoised in a small bounded LRU keyed by the DOT text: the DOT text is
exactly the playbook's steps plus the run's states, so one key per (content, states), and a run whose states
have not changed since the last view is served from memory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import lru_cache

from casemgr.playbooks.definition import Phase, Playbook
from casemgr.playbooks.models import StepState

DOT_TIMEOUT = 10.0  # seconds; a 500-step playbook lays out in well under one

# Fill colours by state, also shown in the page's legend (casemgr/templates/playbooks/run_legend.html).
COLOURS: dict[StepState, str] = {
    StepState.PENDING: "#e5e7eb",
    StepState.READY: "#bfdbfe",
    StepState.IN_PROGRESS: "#fde68a",
    StepState.DONE: "#bbf7d0",
    StepState.SKIPPED: "#d1d5db",
    StepState.BLOCKED: "#fed7aa",
    StepState.FAILED: "#fecaca",
    StepState.NOT_APPLICABLE: "#f3f4f6",
}

PHASE_LABELS = {
    Phase.IDENTIFICATION: "Identification",
    Phase.CONTAINMENT: "Containment",
    Phase.ERADICATION: "Eradication",
    Phase.RECOVERY: "Recovery",
    Phase.POST_INCIDENT: "Post-incident",
}


class GraphUnavailable(Exception):  # noqa: N818 (a state the page reports, not a programming error)
    """Graphviz `dot` is not installed, timed out or failed: the page says so instead of drawing the graph."""


def dot_label(text: str) -> str:
    """Text as the inside of a DOT quoted string, shown literally: no escape sequence, entity or quote
    survives, and line breaks become spaces."""
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def dot_source(definition: Playbook, states: Mapping[str, StepState]) -> str:
    """The DOT text: one cluster per phase (in Phase order), one node per step coloured by its state, an
    edge from each dependency to its step."""
    names = {step.id: f"s{i}" for i, step in enumerate(definition.steps)}
    lines = [
        "digraph run {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.3, ranksep=0.4];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#6b7280"];',
        '  edge [color="#6b7280", arrowsize=0.7];',
    ]
    for n, phase in enumerate(Phase):
        steps = [s for s in definition.steps if s.phase is phase]
        if not steps:
            continue
        lines.append(f"  subgraph cluster_{n} {{")
        lines.append(f'    label="{PHASE_LABELS[phase]}"; style="rounded,dashed"; color="#9ca3af";')
        for step in steps:
            state = StepState(states.get(step.id, StepState.PENDING))
            label = dot_label(step.title)
            if len(label) > 60:  # keep nodes readable; the full title is on the page
                label = dot_label(" ".join(step.title.split())[:57]) + "..."
            lines.append(
                f'    {names[step.id]} [label="{label}", fillcolor="{COLOURS[state]}", '
                f'id="step-{step.id}", class="state-{state.value}"];')
        lines.append("  }")
    for step in definition.steps:
        for dep in step.depends_on:
            if dep in names:
                lines.append(f"  {names[dep]} -> {names[step.id]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(definition: Playbook, states: Mapping[str, StepState]) -> str:
    """The run's graph as an SVG document (no XML prolog). Raises GraphUnavailable when `dot` cannot draw it."""
    return _render(dot_source(definition, states))


@lru_cache(maxsize=128)
def _render(source: str) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphUnavailable("Graphviz is not installed on the server (`make graphviz` installs it).")
    try:
        done = subprocess.run(  # noqa: S603 (a fixed program found on PATH, no shell, input on stdin)
            [dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GraphUnavailable("Graphviz took too long to draw this graph.") from exc
    if done.returncode != 0:
        raise GraphUnavailable("Graphviz could not draw this graph.")
    out = done.stdout.decode("utf-8", "replace")
    start = out.find("<svg")
    if start < 0:
        raise GraphUnavailable("Graphviz could not draw this graph.")
    return re.sub(r"<!--.*?-->\n?", "", out[start:], flags=re.DOTALL)
