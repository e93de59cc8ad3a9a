"""A paper's citation in BibTeX, CSL-JSON and Google Scholar's ``citation_*`` meta tags."""

from __future__ import annotations

import json
import re
from typing import Any

from homeport.content.slugs import slugify
from homeport.render.model import EntryView


def split_name(name: str) -> tuple[str, str]:
    """``"Ada Lovelace"`` → ``("Lovelace", "Ada")``; ``"Lovelace, Ada"`` works too."""
    if "," in name:
        family, _, given = name.partition(",")
        return family.strip(), given.strip()
    parts = name.split()
    return (parts[-1], " ".join(parts[:-1])) if parts else ("", "")


def _authors(paper: EntryView) -> list[str]:
    return [str(a) for a in paper.data.get("authors", [])]


def cite_key(paper: EntryView) -> str:
    family = split_name(_authors(paper)[0])[0] if _authors(paper) else "anon"
    word = slugify(paper.title, "paper").split("-")[0]
    return re.sub(r"[^a-z0-9]", "", f"{slugify(family, 'anon')}{paper.data.get('year', '')}{word}")


def _bib(value: str) -> str:
    """BibTeX value in braces; braces and backslashes in the text escaped."""
    text = value.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}")
    return "{" + text + "}"


def bibtex(paper: EntryView, url: str) -> str:
    data = paper.data
    fields: list[tuple[str, str]] = [
        ("title", paper.title),
        ("author", " and ".join(_authors(paper))),
    ]
    if data.get("venue"):
        fields.append(("journal", str(data["venue"])))
    if data.get("year"):
        fields.append(("year", str(data["year"])))
    if data.get("doi"):
        fields.append(("doi", str(data["doi"])))
    fields.append(("url", url))
    kind = "article" if data.get("venue") else "misc"
    body = ",\n".join(f"  {name} = {_bib(value)}" for name, value in fields)
    return f"@{kind}{{{cite_key(paper)},\n{body}\n}}\n"


def csl_json(paper: EntryView, url: str) -> dict[str, Any]:
    data = paper.data
    item: dict[str, Any] = {
        "id": cite_key(paper),
        "type": "article-journal" if data.get("venue") else "article",
        "title": paper.title,
        "author": [
            {"family": family, "given": given}
            for family, given in (split_name(a) for a in _authors(paper))
        ],
        "URL": url,
    }
    if data.get("year"):
        item["issued"] = {"date-parts": [[int(data["year"])]]}
    if data.get("venue"):
        item["container-title"] = str(data["venue"])
    if data.get("doi"):
        item["DOI"] = str(data["doi"])
    if data.get("abstract"):
        item["abstract"] = str(data["abstract"])
    return item


def csl_json_text(paper: EntryView, url: str) -> str:
    return json.dumps([csl_json(paper, url)], ensure_ascii=False, indent=2) + "\n"


def citation_meta(paper: EntryView, url: str, pdf_url: str | None) -> list[tuple[str, str]]:
    """``(name, content)`` pairs for ``<meta name=… content=…>``, as Google Scholar reads them."""
    data = paper.data
    meta = [("citation_title", paper.title)]
    meta += [("citation_author", a) for a in _authors(paper)]
    if data.get("year"):
        meta.append(("citation_publication_date", str(data["year"])))
    if data.get("venue"):
        meta.append(("citation_journal_title", str(data["venue"])))
    if data.get("doi"):
        meta.append(("citation_doi", str(data["doi"])))
    if pdf_url:
        meta.append(("citation_pdf_url", pdf_url))
    meta.append(("citation_abstract_html_url", url))
    return meta
