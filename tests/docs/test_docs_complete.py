"""Docs cannot drift: every setting is documented with its key."""

import dataclasses
from pathlib import Path

from homeport.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_has_a_row_in_docs_settings() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [
        f.name
        for f in dataclasses.fields(Settings)
        if f.name != "data_dir" and f"| `{f.name}` |" not in text
    ]
    assert missing == []
