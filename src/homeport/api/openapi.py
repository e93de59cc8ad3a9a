"""The OpenAPI 3 document of /v1, written by FastAPI from the route table in `routes.py`.

Requests are served by plain Starlette routing, which measured a third cheaper per request than
FastAPI's; FastAPI only lays out the document. Each operation's parameters, bodies and responses
follow from the kind of route (a list, one object, or a raw route) and the method, so a route
added to the table is documented without more work. FastAPI is imported on the first request for
the document: importing it costs ~0.4 s of start-up.
"""

from __future__ import annotations

from typing import Any

from homeport.api.root import HTTP_API_VERSION
from homeport.api.routes import RAW_ROUTES, ROUTES, RawRoute, Route
from homeport.core.ids import ACCOUNT_ID_PATTERN, ID_PATTERN

JSONDict = dict[str, Any]


def _ref(name: str) -> JSONDict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JSONDict) -> JSONDict:
    return {"application/json": {"schema": schema}}


SCHEMAS: JSONDict = {
    "Error": {
        "type": "object",
        "description": "Kinto's error shape; `code` repeats the HTTP status.",
        "required": ["code", "errno", "error"],
        "properties": {
            "code": {"type": "integer"},
            "errno": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
            "info": {"type": "string"},
            "details": {},
        },
    },
    "Permissions": {
        "type": "object",
        "description": "Principals per permission (read, write, <child>:create).",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    "Data": {
        "type": "object",
        "description": "The object's fields; `id` and `last_modified` are set by the server.",
        "additionalProperties": True,
    },
    "ObjectBody": {
        "type": "object",
        "properties": {"data": _ref("Data"), "permissions": _ref("Permissions")},
        "additionalProperties": False,
    },
    "Object": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["id", "last_modified"],
                "properties": {"id": {"type": "string"}, "last_modified": {"type": "integer"}},
            },
            "permissions": _ref("Permissions"),
        },
    },
    "List": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"type": "object"}}},
    },
    "JSONPatch": {
        "type": "array",
        "description": "RFC 6902 operations on `/data/…` and `/permissions/…`.",
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                "path": {"type": "string"},
                "from": {"type": "string"},
                "value": {},
            },
        },
    },
    "Batch": {
        "type": "object",
        "required": ["requests"],
        "properties": {
            "defaults": {"type": "object"},
            "requests": {
                "type": "array",
                "maxItems": 25,
                "items": {
                    "type": "object",
                    "required": ["path"],
                    "properties": {
                        "method": {"type": "string"},
                        "path": {"type": "string"},
                        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                        "body": {"type": "object"},
                    },
                },
            },
        },
    },
    "BatchResponses": {
        "type": "object",
        "required": ["responses"],
        "properties": {"responses": {"type": "array", "items": {"type": "object"}}},
    },
    "Attachment": {
        "type": "object",
        "required": ["location", "hash", "size", "mimetype", "filename"],
        "properties": {
            "location": {"type": "string"},
            "hash": {"type": "string"},
            "size": {"type": "integer"},
            "mimetype": {"type": "string"},
            "filename": {"type": "string"},
        },
    },
    "AttachmentForm": {
        "type": "object",
        "required": ["attachment"],
        "properties": {
            "attachment": {"type": "string", "format": "binary"},
            "data": {"type": "string", "description": "the record's fields, as JSON"},
            "permissions": {"type": "string", "description": "permissions, as JSON"},
        },
    },
}

ERRORS: JSONDict = {
    "4XX": {"description": "Refused, in Kinto's error shape", "content": _json(_ref("Error"))}
}
INTEGER = {"type": "integer", "minimum": 0}


def _query(name: str, schema: JSONDict, description: str) -> JSONDict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _header(name: str, description: str) -> JSONDict:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


FIELDS = _query("_fields", {"type": "string"}, "Comma-separated fields to return")
FILTERS = {
    "name": "filters",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    "description": "Filters on fields: `field=value`, or with a prefix `in_`, `not_`, `gt_`, "
    "`min_`, `lt_`, `max_`, `exclude_`, `like_`, `has_`, `contains_`, `contains_any_`.",
}
LIST_PARAMETERS = [
    _query("_limit", INTEGER, "Page size"),
    _query("_sort", {"type": "string"}, "Comma-separated fields, `-` for descending"),
    _query("_since", INTEGER, "Only changes after this timestamp (tombstones included)"),
    _query("_before", INTEGER, "Only changes before this timestamp"),
    _query("_token", {"type": "string"}, "The next page, from the `Next-Page` header"),
    FIELDS,
    FILTERS,
]
IF_MATCH = _header("If-Match", 'Only if the object\'s ETag is this one ("<timestamp>" or *)')
IF_NONE_MATCH = _header("If-None-Match", 'Only if the ETag differs ("<timestamp>" or *)')
PATCH_TYPES = {
    "application/json": {"schema": _ref("ObjectBody")},
    "application/merge-patch+json": {"schema": _ref("ObjectBody")},
    "application/json-patch+json": {"schema": _ref("JSONPatch")},
}


def _ok(status: str, schema: JSONDict, description: str = "Done") -> JSONDict:
    return {status: {"description": description, "content": _json(schema)}}


def _path_parameters(path: str, pattern: str) -> list[JSONDict]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": pattern if name == "id" else ID_PATTERN.pattern,
            },
        }
        for name in names
    ]


def _list_operation(method: str, name: str) -> JSONDict:
    plural = f"{name}s"
    if method == "GET":
        return {
            "operationId": f"list_{plural}",
            "parameters": LIST_PARAMETERS,
            "responses": _ok("200", _ref("List"), f"The {plural}"),
        }
    if method == "POST":
        return {
            "operationId": f"create_{name}",
            "requestBody": {"required": False, "content": _json(_ref("ObjectBody"))},
            "responses": {
                **_ok("200", _ref("Object"), "It existed already"),
                **_ok("201", _ref("Object"), "Created"),
            },
        }
    return {
        "operationId": f"delete_{plural}",
        "parameters": [FILTERS],
        "responses": _ok("200", _ref("List"), f"The tombstones of the deleted {plural}"),
    }


def _object_operation(method: str, name: str) -> JSONDict:
    if method == "GET":
        return {
            "operationId": f"get_{name}",
            "parameters": [FIELDS, IF_MATCH, IF_NONE_MATCH],
            "responses": {
                **_ok("200", _ref("Object"), f"The {name}"),
                "304": {"description": "Not modified since If-None-Match"},
            },
        }
    if method == "PUT":
        return {
            "operationId": f"update_{name}",
            "parameters": [IF_MATCH, IF_NONE_MATCH],
            "requestBody": {"required": False, "content": _json(_ref("ObjectBody"))},
            "responses": {
                **_ok("200", _ref("Object"), "Replaced"),
                **_ok("201", _ref("Object"), "Created"),
            },
        }
    if method == "PATCH":
        return {
            "operationId": f"patch_{name}",
            "parameters": [IF_MATCH, IF_NONE_MATCH],
            "requestBody": {"required": True, "content": PATCH_TYPES},
            "responses": _ok("200", _ref("Object"), "Patched"),
        }
    return {
        "operationId": f"delete_{name}",
        "parameters": [IF_MATCH],
        "responses": _ok("200", _ref("Object"), "Its tombstone"),
    }


ROOT_OPERATIONS: dict[str, JSONDict] = {
    "hello": {"responses": _ok("200", {"type": "object"}, "Server information")},
    "heartbeat": {
        "responses": {
            **_ok("200", {"type": "object"}, "Backends up"),
            **_ok("503", {"type": "object"}, "A backend is down"),
        }
    },
    "lbheartbeat": {"responses": _ok("200", {"type": "object"}, "The process answers")},
    "permissions": {
        "parameters": LIST_PARAMETERS,
        "responses": _ok("200", _ref("List"), "Objects and your permissions"),
    },
}

RAW_OPERATIONS: dict[str, JSONDict] = {
    "post_flush": {"responses": {"202": {"description": "Everything deleted"}}},
    "batch": {
        "requestBody": {"required": True, "content": _json(_ref("Batch"))},
        "responses": _ok("200", _ref("BatchResponses"), "One response per request"),
    },
    "attach": {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": _ref("AttachmentForm")}},
        },
        "responses": {
            **_ok("200", _ref("Attachment"), "Replaced"),
            **_ok("201", _ref("Attachment"), "Attached"),
        },
    },
    "detach": {"responses": {"204": {"description": "Removed"}}},
    "changes": {
        "responses": {
            "200": {
                "description": "Server-sent events, one per change",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    },
}


def route_operation(route: Route, method: str) -> JSONDict:
    """Parameters, body and responses of one method of a route in the table."""
    if route.name.endswith("-plural"):
        operation = _list_operation(method, route.name.removesuffix("-plural"))
    elif "{" in route.path:
        operation = _object_operation(method, route.name)
    else:
        operation = {"operationId": f"{method.lower()}_{route.name}", **ROOT_OPERATIONS[route.name]}
    return _complete(operation, route.path, route.name)


def raw_operation(raw: RawRoute) -> JSONDict:
    return _complete({"operationId": raw.name, **RAW_OPERATIONS[raw.name]}, raw.path, "record")


def _complete(operation: JSONDict, path: str, name: str) -> JSONDict:
    pattern = (ACCOUNT_ID_PATTERN if name == "account" else ID_PATTERN).pattern
    return {
        **operation,
        "parameters": _path_parameters(path, pattern) + operation.get("parameters", []),
        "responses": {**operation["responses"], **ERRORS},
    }


def _add(app: Any, endpoint: Any, path: str, method: str, summary: str, op: JSONDict) -> None:
    operation_id = op.pop("operationId")
    app.add_api_route(
        path,
        endpoint,
        methods=[method],
        name=operation_id,
        operation_id=operation_id,
        summary=summary,
        status_code=int(next(iter(op["responses"]))),
        openapi_extra=op,
        response_model=None,
    )


def openapi_document() -> JSONDict:
    """OpenAPI 3 for the API, paths relative to the ``/v1`` server as Kinto's are to its
    basePath. Anonymous requests are allowed; Basic auth names an account."""
    from fastapi import FastAPI
    from fastapi.openapi.utils import get_openapi

    async def documented() -> None:
        return None

    app = FastAPI(
        title="Homeport",
        version=HTTP_API_VERSION,
        description="A home for your data, spoken over Kinto's HTTP API.",
    )
    for route in ROUTES:
        for method in route.methods:
            if method == "HEAD":
                continue
            _add(app, documented, route.path, method, route.summary, route_operation(route, method))
    for raw in RAW_ROUTES:
        _add(app, documented, raw.path, raw.method, raw.summary, raw_operation(raw))
    schema = get_openapi(
        title=app.title, version=HTTP_API_VERSION, description=app.description, routes=app.routes
    )
    schema["servers"] = [{"url": "/v1"}]
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components["securitySchemes"] = {"basicAuth": {"type": "http", "scheme": "basic"}}
    schema["security"] = [{}, {"basicAuth": []}]
    return schema
