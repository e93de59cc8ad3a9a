"""Theme templates run sandboxed and autoescaped; a bad theme fails the build cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.content import sites
from homeport.render.build import build_site
from homeport.render.themes import BUILTIN, ThemeError, find_theme, load_theme
from homeport.services.context import Context


def evil_theme(tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "themes" / "evil"
    folder.mkdir(parents=True)
    (folder / "home.html").write_text(template)
    return folder


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ site.__init__.__globals__ }}",
    "{{ urls.url.__func__.__code__ }}",
])
def test_a_theme_cannot_reach_python_internals(
    ctx: Context, tmp_path: Path, template: str
) -> None:
    folder = evil_theme(tmp_path, template)
    out = tmp_path / "out"
    with pytest.raises(ThemeError, match="tried to reach Python internals"):
        asyncio.run(build_site(ctx, "blog", out, "https://ex.org/", theme=folder))
    assert not (out / "index.html").exists()


def test_theme_templates_autoescape(ctx: Context, tmp_path: Path) -> None:
    asyncio.run(sites.update_site(ctx, "blog", {"title": "<script>x()</script>"}))
    out = tmp_path / "out"
    asyncio.run(build_site(ctx, "blog", out, "https://ex.org/"))
    html = (out / "index.html").read_text()
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_a_broken_template_is_one_clear_error(ctx: Context, tmp_path: Path) -> None:
    folder = evil_theme(tmp_path, "{% if %}")
    with pytest.raises(ThemeError, match=r"theme 'evil': template home\.html"):
        asyncio.run(build_site(ctx, "blog", tmp_path / "out", "https://ex.org/", theme=folder))


def test_both_built_in_themes_exist_and_a_missing_one_is_named() -> None:
    assert find_theme("journal") == BUILTIN / "journal"
    assert load_theme(find_theme("portfolio")).static_files()["style.css"].is_file()
    with pytest.raises(ThemeError, match="no theme named 'nope'"):
        find_theme("nope")


def test_a_theme_failing_late_leaves_the_previous_build_intact(
    ctx: Context, tmp_path: Path
) -> None:
    asyncio.run(sites.add_entry(ctx, "blog", "note", {"text": "first"}))
    out = tmp_path / "out"
    asyncio.run(build_site(ctx, "blog", out, "https://ex.org/"))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    folder = tmp_path / "late"
    folder.mkdir()
    (folder / "entry.html").write_text("{{ entry.__class__ }}")  # home renders, entries fail
    asyncio.run(sites.add_entry(ctx, "blog", "note", {"text": "second"}))
    with pytest.raises(ThemeError):
        asyncio.run(build_site(ctx, "blog", out, "https://ex.org/", theme=folder))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
