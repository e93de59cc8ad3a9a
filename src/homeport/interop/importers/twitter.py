"""An X/Twitter archive (Settings → Your account → Download an archive of your data: a zip,
or its unpacked folder) → notes.

The archive keeps tweets as JavaScript: ``data/tweets.js`` (``data/tweet.js`` in archives made
before 2022; large ones add ``tweets-part1.js``…) assigns a JSON array of ``{"tweet": {…}}`` to
``window.YTD.tweets.part0``. Numbers are strings there, ``full_text`` is HTML-escaped and
holds ``t.co`` links whose real address is in ``entities.urls``. Each tweet's photos are in
``data/tweets_media/<tweet id>-<file name of media_url_https>`` (``tweet_media`` before 2022).

Retweets (``RT @…``) are skipped, as boosts are; replies keep ``reply_to`` (the replied tweet's
address); hashtags become tags; ``t.co`` links become the addresses they stand for, and a
photo's own link is dropped from the text. ``created_at`` becomes ``published`` and the
tweet's old address (``/<username>/status/<id>``) a redirect. A video or GIF (kept in the
archive as its best mp4 variant) becomes a ``file`` entry the note links to.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from homeport import jsonio
from homeport.content.media import Upload
from homeport.interop.importers.common import (
    Archive,
    Planned,
    image,
    old_path,
    tags_of,
    write_all,
)
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest

NOTE_LIMIT = 5000
_PART = re.compile(r"^(?:.*/)?data/(tweets?)(?:-part\d+)?\.js$")
_ASSIGN = re.compile(rb"^\s*window\.YTD\.[A-Za-z_]+\.part\d+\s*=\s*")


def load_js(raw: bytes, name: str) -> Any:
    """The JSON an archive's ``window.YTD.<what>.partN = …`` file assigns."""
    found = _ASSIGN.match(raw)
    if found is None:
        raise ImportFailed(f"{name} is not an X/Twitter archive file "
                           "(no window.YTD assignment)")
    try:
        return jsonio.loads_untrusted(raw[found.end():].rstrip().rstrip(b";"))
    except ValueError as exc:
        raise ImportFailed(f"{name} is not readable JSON: {exc}") from None


def _when(value: str) -> str | None:
    """``Mon Jan 09 08:42:00 +0000 2023`` → ``2023-01-09T08:42:00Z``."""
    try:
        stamp = datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None
    offset = stamp.utcoffset()
    zone = "Z" if not offset else stamp.strftime("%z")[:3] + ":" + stamp.strftime("%z")[3:]
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + zone


class TwitterImporter:
    name = "twitter"
    title = "X/Twitter archive"
    accepts = "the archive X/Twitter gives you (.zip), or its unpacked folder"

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        archive = Archive(source)
        try:
            parts = [n for n in archive.names() if _PART.match(n)]
            if not parts:
                raise ImportFailed(f"{source.name} is not an X/Twitter archive "
                                   "(no data/tweets.js)")
            username = self._username(archive)
            tweets: list[Any] = []
            for name in parts:  # every part is read before anything is written
                found = load_js(archive.read(name) or b"", name)
                if not isinstance(found, list):
                    raise ImportFailed(f"{name} holds no list of tweets")
                tweets.extend(found)
            plans = (plan for wrapped in tweets
                     for plan in self._one(archive, username, wrapped))
            async for item in write_all(request, self.name, plans):
                yield item
        finally:
            archive.close()

    @staticmethod
    def _username(archive: Archive) -> str:
        name = archive.find("data/account.js")
        if name is None:
            return ""
        try:
            account = load_js(archive.read(name) or b"", name)
            return str(account[0]["account"]["username"])
        except (ImportFailed, LookupError, TypeError):
            return ""

    @staticmethod
    def _one(archive: Archive, username: str, wrapped: Any) -> list[Planned | ImportItem]:
        tweet = wrapped.get("tweet", wrapped) if isinstance(wrapped, dict) else None
        if not isinstance(tweet, dict) or not tweet.get("id_str"):
            return [ImportItem("?", "failed", "", "", "a tweet without an id")]
        tweet_id = str(tweet["id_str"])
        source_id = f"tweet/{tweet_id}"
        full = str(tweet.get("full_text") or tweet.get("text") or "")
        if full.startswith("RT @"):
            return [ImportItem(source_id, "skipped", "retweet", "",
                               "a retweet of someone's post")]
        return _plan(archive, username, tweet, full)


def _entities(tweet: dict[str, Any], key: str) -> list[dict[str, Any]]:
    extended = (tweet.get("extended_entities") if key == "media" else None) or {}
    listed = extended.get(key) if isinstance(extended, dict) else None
    if not isinstance(listed, list):
        entities = tweet.get("entities")
        listed = entities.get(key) if isinstance(entities, dict) else None
    return [e for e in listed or [] if isinstance(e, dict)]


def _plan(archive: Archive, username: str, tweet: dict[str, Any], full: str
          ) -> list[Planned | ImportItem]:
    """The tweet's note, after a file entry for each of its videos and GIFs (which the note
    links to)."""
    tweet_id = str(tweet["id_str"])
    notes: list[str] = []
    text = full
    for shortened in _entities(tweet, "urls"):
        short = str(shortened.get("url") or "")
        long = str(shortened.get("expanded_url") or "")
        if short and long:
            text = text.replace(short, long)
    media = _entities(tweet, "media")
    for medium in media:
        short = str(medium.get("url") or "")
        if short:
            text = text.replace(short, "")
    text = html.unescape(text).strip()
    fields: dict[str, Any] = {"visibility": "public"}
    published = _when(str(tweet.get("created_at") or ""))
    if published:
        fields["published"] = published
    tags = [str(t.get("text") or "") for t in _entities(tweet, "hashtags")]
    if tags:
        fields["tags"] = tags_of(tags)
    replied = str(tweet.get("in_reply_to_status_id_str") or "")
    if replied.isdigit():
        who = str(tweet.get("in_reply_to_screen_name") or "i/web")
        fields["reply_to"] = f"https://twitter.com/{who}/status/{replied}"
    if username:
        link = old_path(f"/{username}/status/{tweet_id}")
        if link:
            fields["old_paths"] = [link]
    photos, videos = _photos(archive, tweet_id, media, notes)
    files: list[Planned | ImportItem] = []
    for n, video in enumerate(videos, 1):
        slug = f"tweet-{tweet_id}-media-{n}"
        files.append(Planned(f"tweet/{tweet_id}#media-{n}", "file", {
            "title": video.filename, "slug": slug, "visibility": "public",
            **({"published": published} if published else {})}, {"file": [video]}))
        text = (text + f"\n\n[{video.filename}](../../files/{slug}/)").strip()
    fields["text"] = (text or "…")[:NOTE_LIMIT]
    plan = Planned(f"tweet/{tweet_id}", "note", fields, notes=notes)
    if photos:
        plan.attachments["photos"] = photos[:4]
    return [*files, plan]


def _photos(archive: Archive, tweet_id: str, media: list[dict[str, Any]],
            notes: list[str]) -> tuple[list[Upload], list[Upload]]:
    """The tweet's photos, and its videos and GIFs, from ``tweets_media``: a video is kept
    there as its mp4 variant, named ``<tweet id>-<file name of the variant's URL>``."""
    photos: list[Upload] = []
    videos: list[Upload] = []
    for medium in media:
        address = str(medium.get("media_url_https") or medium.get("media_url") or "")
        if medium.get("type", "photo") != "photo":
            address = _mp4(medium)
        filename = PurePosixPath(address.split("?", 1)[0]).name
        data = None
        for folder in ("data/tweets_media", "data/tweet_media"):
            name = archive.find(f"{folder}/{tweet_id}-{filename}")
            data = archive.read(name) if name else None
            if data is not None:
                break
        if data is None:
            notes.append(f"media missing: {tweet_id}-{filename}")
            continue
        if medium.get("type", "photo") != "photo":
            videos.append(Upload(filename, data))
            continue
        upload = image(data, filename, str(medium.get("ext_alt_text") or "")[:1000])
        if isinstance(upload, str):
            notes.append(upload)
        else:
            photos.append(upload)
    return photos, videos


def _mp4(medium: dict[str, Any]) -> str:
    """The address of a video's or GIF's best mp4 variant (the one the archive keeps)."""
    info = medium.get("video_info")
    found = info.get("variants") if isinstance(info, dict) else None
    mp4 = [v for v in found or [] if isinstance(v, dict) and v.get("content_type") == "video/mp4"]

    def rate(variant: dict[str, Any]) -> int:
        return int(variant["bitrate"]) if str(variant.get("bitrate", "")).isdigit() else 0

    return str(max(mp4, key=rate).get("url") or "") if mp4 else "video.mp4"
