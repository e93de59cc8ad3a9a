"""Micropub requests as data, and how an h-entry becomes an entry (pure: no I/O).

Both sides use this module: the provider parses and checks a request, picks the entry's type and
slug (so it can answer with the URL before the home has seen the post) and queues the result; the
home maps the same properties onto an entry's fields. One rule on both sides keeps the URL the
provider announced the URL the entry gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from homeport.content.schemas import DATE_PATTERN
from homeport.content.slugs import MAX_SLUG, slugify, valid_slug
from homeport.content.types import ENTRY_TYPES

Properties = dict[str, list[Any]]

ACTIONS = ("create", "update", "delete", "undelete")
RESERVED = frozenset({"h", "access_token", "action", "url", "q", "type", "properties"})
"""Form fields that are not properties of the post (``mp-*`` are commands, kept apart)."""
RELATIONS = {"in-reply-to": "reply_to", "like-of": "like_of", "repost-of": "repost_of"}
PRIVATE_PROPERTIES = frozenset({"post-status", "visibility"})
MAX_VALUES = 200
MAX_PROPERTIES = 100
MAX_TAG = 64
MAX_TAGS = 32
_DATE = re.compile(DATE_PATTERN)
_MEDIA = re.compile(r"/media/([0-9a-f]{64})/")


class Invalid(ValueError):
    """A request the endpoint refuses with ``invalid_request`` (400); the message says why."""


@dataclass(frozen=True)
class Action:
    """One Micropub request, parsed: what to do, on which URL, with which properties."""

    action: str
    url: str | None = None
    properties: Properties = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    replace: Properties = field(default_factory=dict)
    add: Properties = field(default_factory=dict)
    delete: Properties | list[str] = field(default_factory=dict)
    uploads: dict[str, int] = field(default_factory=dict)
    """Multipart file parts: property name → how many files (``photo``: 2)."""

    def to_json(self) -> dict[str, Any]:
        """The body the home receives: what it needs to apply the action, nothing else."""
        doc: dict[str, Any] = {"action": self.action}
        if self.url is not None:
            doc["url"] = self.url
        if self.action == "create":
            doc["type"] = ["h-entry"]
            doc["properties"] = self.properties
            doc["commands"] = self.commands
        if self.action == "update":
            doc.update(replace=self.replace, add=self.add, delete=self.delete)
        return doc


# --- parsing -----------------------------------------------------------------------------
def from_form(pairs: Iterable[tuple[str, str]]) -> Action:
    """A form-encoded (or multipart, without its files) request: ``h=entry&content=…``,
    ``category[]=a&category[]=b``, or ``action=delete&url=…``."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        name = key[:-2] if key.endswith("[]") else key
        if not name or "[" in name or "]" in name:
            raise Invalid(f"form field {key!r}: nested form fields are not supported; "
                          "send JSON for nested values")
        values.setdefault(name, []).append(value)
    if sum(len(v) for v in values.values()) > MAX_VALUES * 4:
        raise Invalid("too many form fields")
    values.pop("access_token", None)
    action = _one(values, "action") or "create"
    if action != "create":
        return _target_action(action, _one(values, "url"), values)
    h = _one(values, "h")
    if h is None:
        raise Invalid("a create request needs h=entry (or an action)")
    if h != "entry":
        raise Invalid(f"h={h}: only h=entry is supported")
    props: Properties = {}
    commands: dict[str, list[str]] = {}
    for name, given in values.items():
        if name in RESERVED:
            continue
        if name.startswith("mp-"):
            commands[name] = given
        else:
            props[name] = list(given)
    return _create(props, commands)


def from_json(doc: Any) -> Action:
    """A JSON request: ``{"type": ["h-entry"], "properties": {…}}`` or ``{"action": …}``."""
    if not isinstance(doc, dict):
        raise Invalid("the JSON body must be an object")
    action = doc.get("action", "create")
    if not isinstance(action, str):
        raise Invalid("action must be a string")
    if action != "create":
        url = doc.get("url")
        if url is not None and not isinstance(url, str):
            raise Invalid("url must be a string")
        if action == "update":
            return _update(url, doc)
        return _target_action(action, url, {})
    kind = doc.get("type")
    if kind != ["h-entry"]:
        raise Invalid('type must be ["h-entry"]: only h-entry posts are supported')
    given = doc.get("properties")
    if not isinstance(given, dict):
        raise Invalid("properties must be an object of arrays")
    props: Properties = {}
    commands: dict[str, list[str]] = {}
    for name, values in given.items():
        checked = _values(name, values)
        if name.startswith("mp-"):
            commands[name] = [str(v) for v in checked if isinstance(v, str | int | float)]
        elif name not in ("access_token",):
            props[name] = checked
    return _create(props, commands)


def _one(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    if not found:
        return None
    if len(found) > 1:
        raise Invalid(f"{name} is given {len(found)} times")
    return found[0]


def _values(name: str, values: Any) -> list[Any]:
    if not isinstance(values, list):
        raise Invalid(f"property {name!r} must be an array of values")
    if len(values) > MAX_VALUES:
        raise Invalid(f"property {name!r} has more than {MAX_VALUES} values")
    for value in values:
        if value is None or isinstance(value, bool | list):
            raise Invalid(f"property {name!r}: a value must be a string, number or object")
        if isinstance(value, dict) and not _object(value):
            raise Invalid(f"property {name!r}: an object must be a microformats object "
                          '({"type": [...], "properties": {...}}), {"html": …}, '
                          '{"value": …} or {"value": …, "alt": …}')
    return values


def _object(value: dict[str, Any]) -> bool:
    if "type" in value:
        types = value.get("type")
        props = value.get("properties", {})
        return (isinstance(types, list) and all(isinstance(t, str) for t in types)
                and isinstance(props, dict) and all(isinstance(v, list) for v in props.values()))
    if "html" in value:
        return isinstance(value["html"], str)
    return isinstance(value.get("value"), str) and isinstance(value.get("alt", ""), str)


def _create(props: Properties, commands: dict[str, list[str]]) -> Action:
    if len(props) > MAX_PROPERTIES:
        raise Invalid(f"more than {MAX_PROPERTIES} properties")
    if not props:
        raise Invalid("a post needs at least one property (content, name, photo…)")
    for name in ("published",):
        for value in props.get(name, []):
            if not isinstance(value, str) or not _DATE.match(value):
                raise Invalid(f"{name} must be an ISO 8601 date-time, not {value!r}")
    status = _first_text(props, "post-status")
    if status not in (None, "published", "draft"):
        raise Invalid(f"post-status {status!r} must be published or draft")
    visibility = _first_text(props, "visibility")
    if visibility not in (None, "public", "unlisted", "private"):
        raise Invalid(f"visibility {visibility!r} must be public, unlisted or private")
    for name in RELATIONS:
        for value in props.get(name, []):
            if _url_of(value) is None:
                raise Invalid(f"{name} must be an http(s) URL")
    if "bookmark-of" in props and _url_of(props["bookmark-of"][0]) is None:
        raise Invalid("bookmark-of must be an http(s) URL")
    return Action("create", properties=props, commands=commands)


def _target_action(action: str, url: str | None, values: Mapping[str, list[str]]) -> Action:
    if action not in ACTIONS:
        raise Invalid(f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
    if action == "update":
        raise Invalid("update requests must be sent as JSON")
    if not url:
        raise Invalid(f"{action} needs the url of the post")
    return Action(action, url=url)


def _update(url: str | None, doc: Mapping[str, Any]) -> Action:
    if not url:
        raise Invalid("update needs the url of the post")
    parts: dict[str, Any] = {}
    for op in ("replace", "add"):
        given = doc.get(op, {})
        if not isinstance(given, dict):
            raise Invalid(f"{op} must be an object of arrays")
        parts[op] = {name: _values(name, values) for name, values in given.items()}
    given = doc.get("delete", {})
    if isinstance(given, list):
        if not all(isinstance(n, str) for n in given):
            raise Invalid("delete must list property names")
        parts["delete"] = list(given)
    elif isinstance(given, dict):
        parts["delete"] = {name: _values(name, values) for name, values in given.items()}
    else:
        raise Invalid("delete must be an array of property names or an object of arrays")
    if not (parts["replace"] or parts["add"] or parts["delete"]):
        raise Invalid("update needs replace, add or delete")
    touched = {*parts["replace"], *parts["add"], *parts["delete"]}
    if any(n.startswith("mp-") or n in RESERVED for n in touched):
        raise Invalid("update may change properties only")
    return Action("update", url=url, **parts)


# --- values ------------------------------------------------------------------------------
def _first_text(props: Mapping[str, list[Any]], name: str) -> str | None:
    for value in props.get(name, []):
        text = text_of(value)
        if text:
            return text
    return None


def text_of(value: Any) -> str:
    """A property value as plain text: ``{"html"}`` stays HTML, objects give their name/value."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if "html" in value:
            return str(value["html"])
        if "value" in value:
            return str(value["value"])
        names = value.get("properties", {}).get("name") or value.get("properties", {}).get("url")
        return text_of(names[0]) if names else ""
    return ""


def _url_of(value: Any) -> str | None:
    """The URL a value points at: a string, ``{"value"}``, or a nested object's ``url``."""
    if isinstance(value, dict):
        if "value" in value:
            value = value["value"]
        else:
            urls = value.get("properties", {}).get("url") or []
            value = urls[0] if urls else None
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value
    return None


def photos(props: Mapping[str, list[Any]]) -> list[tuple[str, str | None]]:
    """The post's photos: (URL, alt text or None)."""
    found = []
    for value in props.get("photo", []):
        url = _url_of(value)
        if url is None:
            raise Invalid("photo must be an http(s) URL or {value, alt}")
        alt = value.get("alt") if isinstance(value, dict) else None
        found.append((url, alt or None))
    return found


def media_hash(url: str) -> str | None:
    """The content hash in a media URL of the site (``…/media/<sha256>/1920.jpg``)."""
    found = _MEDIA.search(urlsplit(url).path)
    return found.group(1) if found else None


def media_url(origin: str, digest: str, width: int) -> str:
    """Where an uploaded image will be once a post shows it: its largest JPEG variant."""
    from homeport.content.variants import variant_widths

    return f"{origin}/media/{digest}/{variant_widths(width)[-1]}.jpg"


# --- the entry ---------------------------------------------------------------------------
def entry_type(props: Mapping[str, list[Any]]) -> str:
    """Which entry a post becomes: a bookmark, a note that replies, likes or reposts, an
    article when it has a name, a photo when it has photos (one; several make a note with
    photos), otherwise a note."""
    if props.get("bookmark-of"):
        return "bookmark"
    if any(props.get(name) for name in RELATIONS):
        return "note"
    if _first_text(props, "name"):
        return "article"
    if len(props.get("photo", [])) == 1:
        return "photo"
    return "note"


def slug_for(props: Mapping[str, list[Any]], commands: Mapping[str, list[str]],
             short_id: str) -> tuple[str, bool]:
    """The slug a post gets, and whether the client chose it (``mp-slug``). Without one, the
    first words of its name or content plus a short id from the request: unique without asking
    the home, so the provider can tell the client the URL while the home sleeps."""
    given = (commands.get("mp-slug") or [""])[0].strip()
    if given:
        slug = slugify(given, fallback="")
        if slug and valid_slug(slug):
            return slug, True
    words = " ".join((_first_text(props, "name") or _plain(_first_text(props, "content") or "")
                      ).split()[:6])
    base = slugify(words, fallback=entry_type(props))[: MAX_SLUG - len(short_id) - 1].rstrip("-")
    return f"{base}-{short_id}", False


def fallback_slug(slug: str, short_id: str) -> str:
    """The slug used when a chosen one is taken at the home."""
    return f"{slug[: MAX_SLUG - len(short_id) - 1].rstrip('-')}-{short_id}"


def entry_path(kind: str, slug: str) -> str:
    return ENTRY_TYPES[kind].path(slug)


def _plain(text: str) -> str:
    return re.sub(r"<[^>]*>", " ", text)


def _tags(props: Mapping[str, list[Any]]) -> list[str]:
    tags: list[str] = []
    for value in props.get("category", []):
        if not isinstance(value, str):
            continue  # a nested h-card (a person tag) stays in the mf2 only
        tag = " ".join(value.replace("/", "-").replace("\\", "-").split())[:MAX_TAG].strip()
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise Invalid(f"at most {MAX_TAGS} categories")
    return tags


def fields_for(kind: str, props: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The entry's fields (media apart) for ``props``; ``mf2`` keeps every property as given,
    which is what ``q=source`` answers and what updates change."""
    name = _first_text(props, "name")
    content = _first_text(props, "content") or ""
    summary = _first_text(props, "summary")
    fields: dict[str, Any] = {"mf2": {"type": ["h-entry"], "properties": dict(props)}}
    status = _first_text(props, "post-status")
    visibility = _first_text(props, "visibility")
    fields["draft"] = status == "draft"
    fields["visibility"] = "public" if visibility in (None, "public") else "private"
    published = _first_text(props, "published")
    if published:
        fields["published"] = published
    fields["tags"] = _tags(props)
    if kind == "article":
        fields.update(title=name or "Untitled", body=content or summary or "")
        if summary:
            fields["summary"] = summary[:2000]
    elif kind == "bookmark":
        fields["url"] = _url_of(props["bookmark-of"][0])
        title = name or text_of(props["bookmark-of"][0])
        if title and title != fields["url"]:
            fields["title"] = title[:300]
        if content:
            fields["comment"] = content
    elif kind == "photo":
        alt = photos(props)[0][1]
        fields["alt"] = (alt or _plain(content).strip() or name or "Photo")[:1000]
        if content:
            fields["caption"] = content
        if name:
            fields["title"] = name[:300]
    else:
        fields.update(_note(props, content or summary or name or ""))
    return fields


def _note(props: Mapping[str, list[Any]], text: str) -> dict[str, Any]:
    """A note's text and the post it replies to, likes or reposts."""
    fields: dict[str, Any] = {}
    for prop, key in RELATIONS.items():
        target = next((_url_of(v) for v in props.get(prop, [])), None)
        if target is not None:
            fields[key] = target
            if not text and prop == "like-of":
                text = f"Liked {target}"
            elif not text and prop == "repost-of":
                text = f"Reposted {target}"
    if not text and props.get("photo"):
        text = " ".join(alt or "Photo" for _, alt in photos(props))
    if not text:
        raise Invalid("a note needs content")
    fields["text"] = text
    return fields


def check(action: Action) -> tuple[str, list[tuple[str, str | None]]]:
    """What the provider checks before queuing a create: the type, and that the fields can be
    made (Invalid otherwise), so a request refused at the home is rare."""
    kind = entry_type(action.properties)
    found = photos(action.properties)
    if kind == "note" and len(found) > 4:
        raise Invalid("a post has at most 4 photos (a note's limit)")
    fields = fields_for(kind, action.properties)
    if kind == "note" and len(fields["text"]) > 5000:
        raise Invalid("a note's content is limited to 5,000 characters; give it a name to "
                      "make it an article")
    return kind, found


# --- updates and source ------------------------------------------------------------------
def apply_update(props: Mapping[str, list[Any]], action: Action) -> Properties:
    """``props`` after an update's replace, add and delete (in that order, as the spec says)."""
    result: Properties = {k: list(v) for k, v in props.items()}
    for name, values in action.replace.items():
        result[name] = list(values)
    for name, values in action.add.items():
        result.setdefault(name, [])
        result[name].extend(v for v in values if v not in result[name])
    if isinstance(action.delete, list):
        for name in action.delete:
            result.pop(name, None)
    else:
        for name, values in action.delete.items():
            if name in result:
                result[name] = [v for v in result[name] if v not in values]
                if not result[name]:
                    del result[name]
    return {k: v for k, v in result.items() if v}


def source(props: Mapping[str, list[Any]], wanted: list[str] | None) -> dict[str, Any]:
    """The answer to ``q=source``: the whole post, or only the properties asked for (then
    without ``type``, as the spec shows)."""
    if wanted:
        return {"properties": {k: list(props[k]) for k in wanted if k in props}}
    return {"type": ["h-entry"], "properties": {k: list(v) for k, v in props.items()}}
