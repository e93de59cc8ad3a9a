"""The webmention receiver's rules, without I/O: URL checks, 'does the source link to the
target' per media type (the webmention.rocks receiver cases), and classification by mf2py."""

from __future__ import annotations

import mf2py
import pytest

from homeport import jsonio
from homeport.interop.webmention import parse

TARGET = "https://alice.example/notes/hello/"
SOURCE = "https://bob.example/replies/1"


def links(html: str, target: str = TARGET, url: str = SOURCE, kind: str = "text/html") -> bool:
    return parse.links_to(html.encode(), kind, url, target)


@pytest.mark.parametrize("html", [
    f'<p><a href="{TARGET}">a link</a></p>',
    f'<img src="{TARGET}" alt="">',
    f'<video src="{TARGET}"></video>',
    f'<audio src="{TARGET}"></audio>',
    f'<video><source src="{TARGET}"></video>',
    f'<blockquote cite="{TARGET}">quoted</blockquote>',
    f'<A HREF="{TARGET}">upper-case markup</A>',
    f"<a href='{TARGET.replace('/', '&#x2F;')}'>entities in the attribute</a>",
])
def test_links_in_the_elements_the_spec_names_count(html: str) -> None:
    assert links(html)


def test_a_relative_link_is_resolved_against_the_source_url() -> None:
    assert links('<a href="../notes/hello/">rel</a>', url="https://alice.example/posts/x")
    assert links('<a href="/notes/hello/">root-relative</a>', url="https://alice.example/p/q")
    assert links('<a href="//alice.example/notes/hello/">scheme-relative</a>')
    assert not links('<a href="notes/hello/">relative elsewhere</a>', url="https://bob.example/a/")


def test_a_relative_link_is_resolved_against_the_base_element() -> None:
    html = '<head><base href="https://alice.example/notes/"></head><a href="hello/">x</a>'
    assert links(html)


@pytest.mark.parametrize("html", [
    f"<p>The address {TARGET} as text only</p>",
    f'<!-- <a href="{TARGET}">in a comment</a> -->',
    f'<a href="{TARGET}x">a longer URL</a>',
    f'<a href="{TARGET.rstrip("/")}">without the slash</a>',
    f'<a title="{TARGET}" href="https://other.example/">in another attribute</a>',
    f'<script>var a = "<a href=\\"{TARGET}\\">"</script>',
    "",
])
def test_anything_but_an_exact_link_does_not_count(html: str) -> None:
    assert not links(html)


def test_json_and_plain_text_sources() -> None:
    assert links(jsonio.dumps_text({"items": [{"url": TARGET}]}), kind="application/json")
    assert not links(jsonio.dumps_text({"items": [{"url": TARGET + "x"}]}),
                     kind="application/json")
    assert not links("{not json", kind="application/json")
    assert links(f"see {TARGET} for more", kind="text/plain")
    assert not links("nothing here", kind="text/plain")


@pytest.mark.parametrize(("value", "problem"), [
    ("", "missing"),
    ("ftp://a.example/x", "http or https"),
    ("javascript:alert(1)", "http or https"),
    ("/relative/path", "http or https"),
    ("https:///nohost", "no host"),
    ("https://a.example:99999/", "not a URL"),
    ("https://a.example/ x", "spaces"),
    ("https://a.example/" + "x" * 3000, "longer than"),
])
def test_bad_urls_are_refused_with_a_reason(value: str, problem: str) -> None:
    with pytest.raises(parse.BadURL, match=problem):
        parse.check_url("source", value)


def mention(html: str, target: str = TARGET) -> dict[str, object]:
    parsed = mf2py.parse(doc=html, url=SOURCE)
    return parse.classify(parsed, SOURCE, target, "2026-01-01T00:00:00Z")


CARD = ('<span class="p-author h-card"><img class="u-photo" src="/bob.jpg" alt="">'
        '<a class="u-url p-name" href="https://bob.example/">Bob</a></span>')


@pytest.mark.parametrize(("prop", "kind"), [
    ("u-in-reply-to", "reply"), ("u-like-of", "like"), ("u-repost-of", "repost"),
    ("u-bookmark-of", "bookmark"), ("", "mention"),
])
def test_the_response_type_comes_from_the_property_naming_the_target(prop: str,
                                                                      kind: str) -> None:
    html = (f'<article class="h-entry">{CARD}<a class="{prop}" href="{TARGET}">t</a>'
            '<div class="e-content">Nice <b>post</b>!</div></article>')
    found = mention(html)
    assert found["type"] == kind
    assert found["author"] == {"name": "Bob", "url": "https://bob.example/",
                               "photo": "https://bob.example/bob.jpg"}


def test_a_reply_keeps_content_name_and_published() -> None:
    html = (f'<article class="h-entry">{CARD}'
            f'<a class="u-in-reply-to h-cite" href="{TARGET}"><span class="p-name">x</span></a>'
            '<div class="e-content p-name">Nice <b>post</b>!<script>alert(1)</script></div>'
            '<time class="dt-published" datetime="2026-02-03T04:05:06+01:00">then</time>'
            f'<a class="u-url" href="{SOURCE}">permalink</a></article>')
    found = mention(html)
    assert found["type"] == "reply"
    assert found["published"] == "2026-02-03T03:05:06Z"
    assert found["url"] == SOURCE
    content = found["content"]
    assert isinstance(content, dict)
    assert content["text"].startswith("Nice post!")
    assert "<b>post</b>" in content["html"]  # cleaned when shown (render/markdown.clean_html)
    assert found["name"] == ""  # the name is the content: not repeated


def test_without_microformats_it_is_a_mention_by_the_source_host() -> None:
    found = mention(f'<p>I read <a href="{TARGET}">this</a>.</p>')
    assert found["type"] == "mention"
    assert found["author"] == {"name": "bob.example", "url": "", "photo": ""}
    assert found["published"] == ""  # the home shows when it was verified


def test_an_author_link_that_is_not_http_is_dropped() -> None:
    html = ('<article class="h-entry"><a class="p-author h-card" href="javascript:alert(1)">'
            f'Eve</a><a class="u-like-of" href="{TARGET}">t</a></article>')
    found = mention(html)
    assert found["author"] == {"name": "Eve", "url": "", "photo": ""}


def test_the_entry_whose_url_is_the_source_is_the_one_read() -> None:
    html = ('<div class="h-entry"><a class="u-url" href="https://bob.example/other">o</a>'
            f'<a class="u-like-of" href="{TARGET}">t</a></div>'
            f'<div class="h-entry"><a class="u-url" href="{SOURCE}">me</a>'
            f'<a class="u-repost-of" href="{TARGET}">t</a></div>')
    assert mention(html)["type"] == "repost"


def test_the_digest_ignores_when_it_was_verified() -> None:
    one = mention(f'<a href="{TARGET}">x</a>')
    two = {**one, "verified": "2030-01-01T00:00:00Z"}
    assert parse.digest(one) == parse.digest(two)
    assert parse.digest(one) != parse.digest({**one, "type": "like"})
