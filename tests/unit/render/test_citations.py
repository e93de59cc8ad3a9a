import json

from homeport.render import citations
from homeport.render.model import EntryView

PAPER = EntryView("paper", "p1", {
    "title": "On {Computable} Numbers", "authors": ["Alan Turing", "Church, Alonzo"],
    "year": 1936, "venue": "Proc. LMS", "doi": "10.1112/plms/s2-42.1.230", "slug": "on",
    "abstract": "We study.", "pdf": {"hash": "0" * 64, "filename": "p.pdf",
                                      "mimetype": "application/pdf", "size": 3},
}, 1, "/papers/on/")
URL = "https://ex.org/papers/on/"


def test_bibtex_has_the_fields_and_escapes_braces() -> None:
    bib = citations.bibtex(PAPER, URL)
    assert bib.startswith("@article{turing1936on,")
    assert "title = {On \\{Computable\\} Numbers}" in bib
    assert "author = {Alan Turing and Church, Alonzo}" in bib
    assert "doi = {10.1112/plms/s2-42.1.230}" in bib
    assert bib.count("{") == bib.count("}")


def test_csl_json_splits_names_and_dates() -> None:
    item = json.loads(citations.csl_json_text(PAPER, URL))[0]
    assert item["author"] == [{"family": "Turing", "given": "Alan"},
                              {"family": "Church", "given": "Alonzo"}]
    assert item["issued"] == {"date-parts": [[1936]]}
    assert item["DOI"] == "10.1112/plms/s2-42.1.230"
    assert item["container-title"] == "Proc. LMS"


def test_citation_meta_is_what_google_scholar_reads() -> None:
    meta = citations.citation_meta(PAPER, URL, URL + "p.pdf")
    names = [name for name, _ in meta]
    assert names.count("citation_author") == 2
    assert ("citation_pdf_url", URL + "p.pdf") in meta
    assert ("citation_publication_date", "1936") in meta
    assert "citation_title" in names
