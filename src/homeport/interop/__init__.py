"""The live web: the protocols a provider answers on a sleeping home's behalf (Webmention,
Micropub, IndieAuth, WebSub) and what the home does with what they queue.

One module (or small subpackage) per protocol. Each protocol gives the provider its routes,
mounted on every tenant's host under ``/_homeport/`` (``ports.TENANT_PREFIX``), and gives the
home the handlers that apply its inbox items. The protocols reach the provider only through the
small protocols in ``ports.py``, which the provider implements; so this package never imports
``homeport.provider`` and is tested with in-memory ports.
"""
