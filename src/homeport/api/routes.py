"""The route table: one list serves the HTTP app, its OpenAPI document and batch dispatch."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from homeport.api import default_bucket, resources, root
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


COLLECTION = "/buckets/{bucket_id}/collections/{collection_id}"

ROUTES: list[Route] = [
    Route("/", {"GET": root.hello, "HEAD": root.hello}, "hello", "Server information"),
    Route("/__heartbeat__", {"GET": root.heartbeat}, "heartbeat", "Backend health"),
    Route("/__lbheartbeat__", {"GET": root.lbheartbeat}, "lbheartbeat", "Process liveness"),
    Route("/permissions", {"GET": root.permissions}, "permissions", "What you can reach"),
    _plural("bucket", "/buckets"),
    _object("bucket", "/buckets/{id}"),
    _plural("collection", "/buckets/{bucket_id}/collections"),
    _object("collection", "/buckets/{bucket_id}/collections/{id}"),
    _plural("group", "/buckets/{bucket_id}/groups"),
    _object("group", "/buckets/{bucket_id}/groups/{id}"),
    _plural("record", COLLECTION + "/records"),
    _object("record", COLLECTION + "/records/{id}"),
    _plural("account", "/accounts"),
    _object("account", "/accounts/{id}"),
]

RECORD_PATH = COLLECTION + "/records/{id}"


@dataclass(frozen=True)
class RawRoute:
    """An endpoint served by its own Starlette route in home.py (it needs the raw request: a
    multipart stream, server-sent events, the batch's sub-requests); listed here so that the
    OpenAPI document and the app are written from the same table."""

    path: str
    method: str
    name: str
    summary: str


RAW_ROUTES: list[RawRoute] = [
    RawRoute("/__flush__", "POST", "post_flush", "Delete everything (tests only)"),
    RawRoute("/batch", "POST", "batch", "Several requests in one"),
    RawRoute(RECORD_PATH + "/attachment", "POST", "attach", "Attach a file to a record"),
    RawRoute(RECORD_PATH + "/attachment", "DELETE", "detach", "Remove a record's attachment"),
    RawRoute(
        COLLECTION + "/changes",
        "GET",
        "changes",
        "Live change stream of a collection (server-sent events)",
    ),
]

_COMPILED = [(route.regex, route) for route in ROUTES]


def allowed_methods(route: Route) -> str:
    """The ``Allow`` header, in Kinto's order."""
    order = (
        ("HEAD", "GET", "POST", "DELETE")
        if route.name.endswith("-plural")
        else ("GET", "HEAD", "PUT", "PATCH", "DELETE", "POST")
    )
    return ", ".join([m for m in order if m in route.methods] + ["OPTIONS"])


def method_not_allowed(route: Route) -> MethodNotAllowed:
    return MethodNotAllowed(
        "Method not allowed on this endpoint.", headers={"Allow": allowed_methods(route)}
    )


def find_route(path: str) -> Route | None:
    for regex, route in _COMPILED:
        if regex.match(path):
            return route
    return None


def resolve(method: str, path: str) -> Handler:
    """The handler for a path below /v1, for HTTP and batch alike; ``/buckets/default/…``
    is the caller's personal bucket (``default_bucket.py``)."""
    if default_bucket.is_default(path):
        return partial(default_bucket.dispatch, resolve=resolve)
    route = find_route(path)
    if route is None:
        raise MissingResource("The resource you are looking for could not be found.")
    handler = route.methods.get(method)
    if handler is None:
        raise method_not_allowed(route)
    return handler
