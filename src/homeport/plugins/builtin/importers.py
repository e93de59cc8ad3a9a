"""The built-in importers (``interop/importers/``), offered like any plugin's."""

from __future__ import annotations

from homeport.plugins import hookimpl
from homeport.plugins.kinds import Importer


@hookimpl
def register_importers() -> list[Importer]:
    from homeport.interop.importers.ghost import GhostImporter
    from homeport.interop.importers.jsonfeed import JsonFeedImporter
    from homeport.interop.importers.kinto import KintoImporter
    from homeport.interop.importers.markdown import MarkdownImporter
    from homeport.interop.importers.mastodon import MastodonImporter
    from homeport.interop.importers.twitter import TwitterImporter
    from homeport.interop.importers.wordpress import WordPressImporter

    return [WordPressImporter(), MastodonImporter(), JsonFeedImporter(),
            MarkdownImporter(), GhostImporter(), TwitterImporter(),
            KintoImporter()]
