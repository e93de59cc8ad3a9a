"""The route table: one list serves the HTTP app, its OpenAPI document and batch dispatch."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeport.api import resources, root
from homeport.api.messages import ApiRequest, ApiResponse
from homeport.core.errors import MethodNotAllowed, MissingResource
from homeport.services.context import Context

Handler = Callable[[Context, ApiRequest], Awaitable[ApiResponse]]

SEGMENT = r"[^/]+"


@dataclass(frozen=True)
class Route:
    path: str
    methods: dict[str, Handler]
    name: str
    summary: str

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[a-z_]+\}", SEGMENT, self.path) + "$")


def _object(name: str, path: str) -> Route:
    return Route(
        path,
        {
            "GET": resources.get_object,
            "HEAD": resources.get_object,
            "PUT": resources.put_object,
            "PATCH": resources.patch_object,
            "DELETE": resources.delete_object,
        },
        name,
        f"Read, replace, patch or delete one {name}",
    )


def _plural(name: str, path: str) -> Route:
    return Route(
        path,
        {
            "GET": resources.get_list,
            "HEAD": resources.get_list,
            "POST": resources.post_list,
            "DELETE": resources.delete_list,
        },
        f"{name}-plural",
        f"List, create or delete {name}s",
    )


COLLECTION = "/buckets/{bid}/collections/{cid}"

ROUTES: list[Route] = [
    Route("/", {"GET": root.hello, "HEAD": root.hello}, "hello", "Server information"),
    Route("/__heartbeat__", {"GET": root.heartbeat}, "heartbeat", "Backend health"),
    Route("/__lbheartbeat__", {"GET": root.lbheartbeat}, "lbheartbeat", "Process liveness"),
    Route("/__flush__", {"POST": root.flush}, "flush", "Delete everything (tests only)"),
    Route("/permissions", {"GET": root.permissions}, "permissions", "What you can reach"),
    _plural("bucket", "/buckets"),
    _object("bucket", "/buckets/{bid}"),
    _plural("collection", "/buckets/{bid}/collections"),
    _object("collection", COLLECTION),
    _plural("group", "/buckets/{bid}/groups"),
    _object("group", "/buckets/{bid}/groups/{gid}"),
    _plural("record", COLLECTION + "/records"),
    _object("record", COLLECTION + "/records/{rid}"),
    _plural("account", "/accounts"),
    _object("account", "/accounts/{aid}"),
]

_COMPILED = [(route.regex, route) for route in ROUTES]


def resolve(method: str, path: str) -> Handler:
    """The handler for a path below /v1 (used by batch; HTTP goes through the router)."""
    for regex, route in _COMPILED:
        if regex.match(path):
            handler = route.methods.get(method)
            if handler is None:
                raise MethodNotAllowed("Method not allowed on this endpoint.")
            return handler
    raise MissingResource("The resource you are looking for could not be found.")
