"""Markdown in descriptions, notes and events is rendered once, sanitized, by casemgr.markdown."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from casemgr.markdown import render


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def dangerous(html: str) -> list[str]:
    """What in `html`, parsed as a browser would, could run script or load a resource."""
    parser = _Elements()
    parser.feed(html)
    problems = []
    for tag, attrs in parser.found:
        if tag in {"script", "img", "svg", "iframe", "object", "embed", "style", "link", "meta", "form"}:
            problems.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on") or name in {"style", "src", "srcdoc"}:
                problems.append(f"{tag}[{name}]")
            if name == "href" and not (value or "").lower().startswith(("http://", "https://", "mailto:")):
                problems.append(f"{tag}[href={value}]")
    return problems

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    "![x](https://attacker.example/pixel.png)",
    '<svg onload="alert(1)">',
    "<iframe src=https://attacker.example></iframe>",
    '<p style="background:url(javascript:alert(1))">x</p>',
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_render_neutralises_injection(attack):
    html = str(render(f"Before\n\n{attack}\n\nAfter"))
    assert dangerous(html) == [], html
    assert "After" in html


def test_the_checker_catches_what_it_should():
    assert dangerous('<img src=x onerror="alert(1)"><a href="javascript:x">y</a>') == [
        "<img>", "img[src]", "img[onerror]", "a[href=javascript:x]"]


def test_render_keeps_ordinary_formatting_and_safe_links():
    html = str(render("**bold** `code` [site](https://example.org)\n\n- a\n- b"))
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>a</li>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">site</a>' in html


def test_render_of_nothing_is_empty():
    assert str(render(None)) == "" == str(render(""))


@pytest.mark.parametrize("attack", ATTACKS[:4])
def test_case_description_note_and_event_come_back_sanitized(api, open_case, attack):
    analyst = api("analyst")
    case = open_case(analyst, description=attack)
    assert case["description"] == attack  # stored as written: the analyst may be quoting the attack
    assert dangerous(case["description_html"]) == []
    note = analyst.post(f"/api/v1/cases/{case['id']}/notes", json={"body": attack}).get_json()
    event = analyst.post(f"/api/v1/cases/{case['id']}/events",
                         json={"occurred_at": "2026-01-01T00:00:00Z", "summary": "payload", "body": attack}).get_json()
    for html in (note["body_html"], event["body_html"]):
        assert dangerous(html) == [], html
