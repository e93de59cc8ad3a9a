"""Exporters: a site written out in portable formats, registered as the built-in plugin
``homeport.plugins.builtin.exporters`` (each implements ``plugins.kinds.Exporter``)."""
