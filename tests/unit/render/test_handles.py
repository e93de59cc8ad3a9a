"""``@user@host`` in an entry's text (``render/handles.py``): what is a handle and what is not,
and how a resolved one is linked in the HTML."""

from __future__ import annotations

from homeport.render import handles
from homeport.render.markdown import render_markdown

BOB = handles.Resolved("https://social.example/users/bob", "https://social.example/@bob")


def test_handles_are_found_once_each_in_order_lowercased() -> None:
    text = "Hi @Bob@Social.Example and @ann@mastodon.example, again @bob@social.example!"
    assert handles.find(text) == ["bob@social.example", "ann@mastodon.example"]


def test_an_email_address_is_no_handle() -> None:
    assert handles.find("write to bob@social.example or mailto:bob@social.example") == []
    assert handles.find("x@bob@social.example") == []


def test_a_handle_without_a_host_is_ignored() -> None:
    assert handles.find("thanks @bob, and @ann.") == []
    assert handles.find("@bob@") == []
    assert handles.find("@bob@nodots") == []


def test_punctuation_around_a_handle_is_not_part_of_it() -> None:
    for text in ("(@bob@social.example)", "@bob@social.example.", "@bob@social.example,",
                 "“@bob@social.example”", "@bob@social.example: hi", "@bob@social.example!?",
                 "<@bob@social.example>"):
        assert handles.find(text) == ["bob@social.example"], text


def test_a_handle_inside_a_url_is_not_one() -> None:
    assert handles.find("see https://social.example/@bob@other.example/1") == []
    assert handles.find("a=@bob@social.example") == []


def test_a_port_belongs_to_the_host() -> None:
    assert handles.find("@bob@127.0.0.1:8123 and @ann@localhost") == [
        "bob@127.0.0.1:8123", "ann@localhost"]


def test_resolved_handles_are_linked_as_h_cards_outside_links_and_code() -> None:
    html = render_markdown("Hi @bob@social.example, `@bob@social.example`, "
                           "[@bob@social.example](https://x.example/), @ann@other.example")
    linked, keys = handles.link(html, {"bob@social.example": BOB})
    assert keys == ("bob@social.example",)
    assert linked.count('class="u-url mention"') == 1
    assert ('Hi <span class="h-card" translate="no"><a href="https://social.example/@bob" '
            'class="u-url mention">@<span>bob</span></a></span>,') in linked
    assert "<code>@bob@social.example</code>" in linked
    assert ">@bob@social.example</a>" in linked  # the owner's own link is left alone
    assert "@ann@other.example" in linked  # not resolved: left as text


def test_only_answers_with_an_actor_count_as_resolved() -> None:
    record = {"bob@social.example": {"actor": BOB.actor, "url": BOB.url, "checked": 1},
              "ghost@dead.example": {"error": "WebFinger answered 404", "checked": 1},
              "odd@x.example": {"actor": "javascript:alert(1)"},
              "noprofile@x.example": {"actor": "https://x.example/u/np", "url": "ftp://x"}}
    assert handles.resolved_of(record) == {
        "bob@social.example": BOB,
        "noprofile@x.example": handles.Resolved("https://x.example/u/np",
                                                "https://x.example/u/np")}
