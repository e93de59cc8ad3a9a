"""Markdown → safe HTML: markdown-it-py (CommonMark + tables + strikethrough), then nh3.

Raw HTML in Markdown is allowed through the parser and then sanitised, so a pasted ``<em>``
survives while ``<script>``, event handlers and ``javascript:`` links never reach a page.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "dd", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "td": {"align", "style"},
    "th": {"align", "style"},
    "code": {"class"},
    "ol": {"start"},
    "abbr": {"title"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def sanitize(html: str) -> str:
    """Keep formatting, drop anything that runs code or loads from odd schemes."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener",
        filter_style_properties={"text-align"},
    )


def render_markdown(text: str) -> str:
    """Sanitised HTML for a Markdown text written by a person."""
    return sanitize(_parser().render(text))


def render_plain(text: str) -> str:
    """A short text (a note, a caption) as paragraphs of Markdown too: links and emphasis."""
    return render_markdown(text)


RESPONSE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "i", "ins", "li", "ol", "p",
    "pre", "q", "s", "small", "strong", "sub", "sup", "u", "ul",
}


def clean_html(html: str) -> str:
    """A stranger's HTML (a webmention's reply): text formatting and links only, no images
    (which could track readers), links marked as user content."""
    return nh3.clean(
        html,
        tags=RESPONSE_TAGS,
        attributes={"a": {"href", "title"}, "abbr": {"title"}},
        url_schemes={"http", "https"},
        link_rel="nofollow ugc noopener",
    )
