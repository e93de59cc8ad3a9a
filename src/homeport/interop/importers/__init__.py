"""Importers: content brought in from elsewhere, registered as the built-in plugin
``homeport.plugins.builtin.importers`` (each implements ``plugins.kinds.Importer``)."""
