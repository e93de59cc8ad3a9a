"""The home's GUI at ``/admin/`` and the site preview at ``/preview/``."""

from homeport.gui.app import routes

__all__ = ["routes"]
