"""Markdown in descriptions, notes and events is rendered once, sanitized, by casemgr.markdown."""

from __future__ import annotations

import re
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


ACTIVE = [a for a in ATTACKS if "![x]" not in a]


@pytest.mark.parametrize("attack", ACTIVE)
def test_hostile_text_is_accepted_stored_verbatim_and_shown_inert(api, login, open_case, attack):
    """Analysts paste attack payloads: nothing is refused for its content, it is kept as written and shown as text."""
    analyst = api("analyst")
    described = f"Seen in the mail:\n\n{attack}"
    case = open_case(analyst, description=described)
    assert case["description"] == described
    assert dangerous(case["description_html"]) == [], case["description_html"]
    note = analyst.post(f"/api/v1/cases/{case['id']}/notes", json={"body": attack})
    event = analyst.post(f"/api/v1/cases/{case['id']}/events",
                         json={"occurred_at": "2026-01-01T00:00:00Z", "summary": "payload", "body": attack})
    assert (note.status_code, event.status_code) == (201, 201), (note.get_json(), event.get_json())
    assert note.get_json()["body"] == attack
    assert analyst.get(f"/api/v1/cases/{case['id']}").get_json()["description"] == described

    benign = open_case(analyst, description="Seen in the mail: nothing.")
    analyst.post(f"/api/v1/cases/{benign['id']}/notes", json={"body": "text"})
    analyst.post(f"/api/v1/cases/{benign['id']}/events",
                 json={"occurred_at": "2026-01-01T00:00:00Z", "summary": "payload", "body": "text"})
    manager = login("manager")
    for page in ("", "/timeline"):  # the page with the payload has no element or attribute the plain one lacks
        pages = [manager.get(f"/cases/{c['id']}{page}").get_data(as_text=True) for c in (case, benign)]
        hostile, plain = ([re.sub(r"\d+", "N", p) for p in dangerous(html)] for html in pages)
        assert sorted(hostile) == sorted(plain), page
    if "<script>" in attack:  # shown to the reader as the text that was written
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in manager.get(f"/cases/{case['id']}").get_data(as_text=True)


@pytest.mark.parametrize("attack", ACTIVE)
def test_quoted_payloads_in_code_are_kept_verbatim_and_inert(api, open_case, attack):
    analyst = api("analyst")
    quoted = f"The phishing mail carried:\n\n```\n{attack}\n```\n\nand inline `{attack}` too."
    case = open_case(analyst, description=quoted)
    assert case["description"] == quoted  # stored as written
    assert dangerous(case["description_html"]) == []
    assert "<pre><code>" in case["description_html"]
    note = analyst.post(f"/api/v1/cases/{case['id']}/notes", json={"body": quoted}).get_json()
    assert dangerous(note["body_html"]) == [], note["body_html"]
