"""Sign-in connectors Homeport ships (``plugins/kinds.py``'s ``Connector``), registered by
the built-in plugin ``plugins/builtin/signin.py`` when their settings are given."""
