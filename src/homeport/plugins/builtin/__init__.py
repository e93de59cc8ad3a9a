"""Homeport's own features as plugins, registered by ``manager.BUILTINS`` exactly as a
third-party plugin is (each module is a plugin; its hook implementations are marked with
``homeport.plugins.hookimpl``)."""
