"""``homeport add …`` and ``homeport build`` from the command line: results and one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from homeport.cli.main import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("no_homeport_env")


def homeport(data: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--data", str(data), *args])
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("homeport: "), stderr
    return lines[0]


def entries(data: Path) -> list[str]:
    code, _, _ = homeport(data, "build", "--base-url", "https://ex.org/")
    assert code == 0
    site = data / "sites" / "site"
    return sorted(str(p.parent.relative_to(site)) for p in site.glob("*/*/index.html")
                  if p.parent.parent.name in ("articles", "notes", "photos", "papers"))


def test_add_note_creates_a_first_site_and_builds(tmp_path: Path) -> None:
    code, out, _ = homeport(tmp_path, "add", "note", "Hello *there*", "--tag", "hi")
    assert code == 0 and "Added note /notes/hello-there/" in out
    assert entries(tmp_path) == ["notes/hello-there"]


def test_add_article_reads_front_matter(tmp_path: Path) -> None:
    source = tmp_path / "post.md"
    source.write_text("---\ntitle: \"My: Post\"\ntags: [a, b]\ndate: 2024-05-01\n"
                      "summary: Short\n---\nBody *text*.\n")
    code, out, err = homeport(tmp_path, "add", "article", str(source))
    assert code == 0, err
    assert "/articles/my-post/" in out
    entries(tmp_path)
    html = (tmp_path / "sites/site/articles/my-post/index.html").read_text()
    assert "My: Post" in html and "<em>text</em>" in html and "2024-05-01" in html


def test_add_article_with_bad_front_matter_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "post.md"
    source.write_text("---\nnonsense line\n---\nBody\n")
    code, _, err = homeport(tmp_path, "add", "article", str(source))
    assert code != 0
    assert "front matter" in one_error_line(err)


def test_add_photo_needs_alt_text(tmp_path: Path) -> None:
    image = tmp_path / "p.jpg"
    Image.new("RGB", (600, 400), "navy").save(image)
    code, _, err = homeport(tmp_path, "add", "photo", str(image))
    assert code != 0 and "alt text is required" in one_error_line(err)
    code, out, _ = homeport(tmp_path, "add", "photo", str(image), "--alt", "A navy square")
    assert code == 0 and "/photos/a-navy-square/" in out


def test_one_bad_photo_adds_none(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.new("RGB", (600, 400), "navy").save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    code, _, err = homeport(tmp_path, "add", "photo", str(good), str(bad), "--alt", "x")
    assert code != 0 and "bad.jpg is not an image" in one_error_line(err)
    homeport(tmp_path, "add", "note", "only this")
    assert entries(tmp_path) == ["notes/only-this"]


def test_a_decompression_bomb_is_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    buffer = io.BytesIO()
    Image.new("1", (8_000, 8_000)).save(buffer, "PNG")  # 64 MP: past Homeport's own limit
    bomb.write_bytes(buffer.getvalue())
    code, _, err = homeport(tmp_path, "add", "photo", str(bomb), "--alt", "x")
    assert code != 0 and "bomb" in one_error_line(err)


def test_add_paper_checks_the_pdf(tmp_path: Path) -> None:
    fake = tmp_path / "paper.pdf"
    fake.write_text("<html>not a pdf</html>")
    code, _, err = homeport(tmp_path, "add", "paper", str(fake), "--title", "T",
                            "--authors", "A B")
    assert code != 0 and "not a PDF" in one_error_line(err)
    real = tmp_path / "real.pdf"
    real.write_bytes(b"%PDF-1.5\n%%EOF\n")
    code, _, err = homeport(tmp_path, "add", "paper", str(real), "--title", "On Looms",
                              "--authors", "Ada Lovelace, Charles Babbage", "--year", "1843")
    assert code == 0, err
    entries(tmp_path)
    bib = (tmp_path / "sites/site/papers/on-looms/cite.bib").read_text()
    assert "author = {Ada Lovelace and Charles Babbage}" in bib


def test_build_twice_writes_nothing_the_second_time(tmp_path: Path) -> None:
    homeport(tmp_path, "add", "note", "hello")
    out = tmp_path / "www"
    code, first, _ = homeport(tmp_path, "build", "--out", str(out), "--base-url", "https://e/")
    assert code == 0 and "0 written" not in first
    code, second, _ = homeport(tmp_path, "build", "--out", str(out), "--base-url", "https://e/")
    assert code == 0 and " 0 written" in second


def test_build_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = homeport(tmp_path, "build")
    assert code != 0 and "no site yet" in one_error_line(err)
    homeport(tmp_path, "add", "note", "x")
    code, _, err = homeport(tmp_path, "build", "--site", "nope")
    assert code != 0 and "no site named 'nope'" in one_error_line(err)
    code, _, err = homeport(tmp_path, "build", "--base-url", "ftp://x")
    assert code != 0 and "--base-url" in one_error_line(err)


def test_a_duplicate_slug_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "a.md"
    source.write_text("---\ntitle: A\nslug: same\n---\nx\n")
    assert homeport(tmp_path, "add", "article", str(source))[0] == 0
    code, _, err = homeport(tmp_path, "add", "article", str(source))
    assert code != 0 and "already used" in one_error_line(err)
