"""The one place that turns user-written Markdown into HTML that is safe to show.

Two layers, both maintained libraries: markdown-it-py renders CommonMark with raw HTML disabled
(so `<script>` typed into a note comes out as text), then nh3 (ammonia) sanitizes the result
against an allow-list of tags, attributes and URL schemes, so that no event handler, `style`,
`javascript:` or `data:` link survives even if the renderer ever let one through. Links get
rel="noopener noreferrer nofollow". Images are not allowed: an incident note must never make
the analyst's browser fetch a URL an attacker chose.

Nothing is refused for its content: analysts paste attack payloads all day, and what they wrote is
stored verbatim and shown as text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import nh3
from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # Imported on first use: `casemgr case list` and the other commands that render nothing skip it.
    from markdown_it import MarkdownIt

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
