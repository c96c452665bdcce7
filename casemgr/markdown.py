"""The one place that turns user-written Markdown into HTML that is safe to show.

Two layers, both maintained libraries: markdown-it-py renders CommonMark with raw HTML disabled
(so `<script>` typed into a note comes out as text), then nh3 (ammonia) sanitizes the result
against an allow-list of tags, attributes and URL schemes, so that no event handler, `style`,
`javascript:` or `data:` link survives even if the renderer ever let one through. Links get
rel="noopener noreferrer nofollow". Images are not allowed: an incident note must never make
the analyst's browser fetch a URL an attacker chose.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"])


def render(text: str | None) -> Markup:
    """Render Markdown to sanitized HTML, ready to insert into a template unescaped."""
    if not text:
        return Markup("")
    html = _renderer().render(text)
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return Markup(clean)  # noqa: S704 - sanitized by nh3 just above


_ACTIVE = [
    (re.compile(r"<\s*/?\s*(script|iframe|object|embed|svg|math|style|link|meta|base|form)\b", re.I),
     "a <{0}> tag"),
    (re.compile(r"<[a-z][a-z0-9-]*[^<>]*?[\s/\"']on([a-z]+)\s*=[^<>]*>", re.I), "an event-handler attribute (on{0}=)"),
    (re.compile(r"\b(javascript|vbscript)\s*:", re.I), "a {0}: URL"),
    (re.compile(r"\bdata\s*:\s*text/html", re.I), "a data:text/html URL"),
]


def active_content(text: str | None) -> str | None:
    """What in `text`, outside code spans and blocks, is script or HTML meant to run, or None.

    Rendering would neutralise it anyway (see `render`); refusing it makes the analyst choose:
    quoted attack payloads belong in backticks or a fenced block, where they are kept verbatim.
    """
    if not text:
        return None
    for token in _renderer().parse(text):
        if token.type != "inline" or not token.children:
            continue
        prose = "".join(" " if child.type == "code_inline" else ("\n" if child.type in {"softbreak", "hardbreak"}
                        else child.content) for child in token.children)
        for pattern, label in _ACTIVE:
            found = pattern.search(prose)
            if found:
                return label.format(found.group(1).lower() if found.groups() else "")
    return None


def check_safe(text: str) -> str:
    """A pydantic validator: refuse Markdown carrying active content outside code (ValueError)."""
    what = active_content(text)
    if what is not None:
        raise ValueError(f"contains {what} outside a code span; to quote an attack payload, "
                         "put it in `backticks` or a fenced code block")
    return text
