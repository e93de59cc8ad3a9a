"""The built-in exporters (``interop/exporters/``), offered like any plugin's."""

from __future__ import annotations

from homeport.plugins import hookimpl
from homeport.plugins.kinds import Exporter


@hookimpl
def register_exporters() -> list[Exporter]:
    from homeport.interop.exporters.jsonfeed import JsonFeedExporter
    from homeport.interop.exporters.markdown import MarkdownExporter
    from homeport.interop.exporters.outbox import OutboxExporter
    from homeport.interop.exporters.wxr import WxrExporter

    return [JsonFeedExporter(), MarkdownExporter(), WxrExporter(), OutboxExporter()]
