from homeport.render.markdown import render_markdown


def test_markdown_renders_common_formatting() -> None:
    html = render_markdown("# Title\n\n*em* **strong** `code`\n\n| a |\n|---|\n| 1 |\n")
    assert "<h1>Title</h1>" in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<table>" in html


def test_script_and_event_handlers_are_removed() -> None:
    html = render_markdown('<script>alert(1)</script><img src="x.png" onerror="alert(2)">')
    assert "<script" not in html and "alert(1)" not in html
    assert "onerror" not in html
    assert '<img src="x.png">' in html


def test_javascript_links_are_removed() -> None:
    html = render_markdown('[click](javascript:alert(1)) <a href="javascript:x()">raw</a>')
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")
    assert 'href="javascript' not in html


def test_iframes_and_styles_are_removed() -> None:
    html = render_markdown('<iframe src="https://evil"></iframe><style>*{}</style><p>ok</p>')
    assert "iframe" not in html and "<style" not in html
    assert "<p>ok</p>" in html


def test_links_keep_their_href_and_get_noopener() -> None:
    html = render_markdown("[site](https://example.org)")
    assert '<a href="https://example.org" rel="noopener">site</a>' in html
