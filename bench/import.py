"""What importing costs: a WordPress export and a Mastodon archive of realistic size.

Generates a WXR with ``--posts`` posts and ``--images`` image attachments (in
``wp-content/uploads`` beside it) and a Mastodon archive (zip) with ``--toots`` toots (every
20th with an image, every 10th a boost), then runs ``homeport import-from`` on each in a child
process with a fresh SQLite home, twice (the second run must write nothing). Prints wall time
and the child's peak RSS against the issue's targets (60 s, 300 MB each).

    .venv/bin/python bench/import.py                                  # 10,000 / 1,000 / 20,000
    .venv/bin/python bench/import.py --posts 1000 --images 100 --toots 2000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

HOMEPORT = str(Path(sys.executable).with_name("homeport"))


def jpeg(n: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (n % 256, (n // 256) % 256, 90)).save(out, "JPEG")
    return out.getvalue()


def wxr(folder: Path, posts: int, images: int) -> Path:
    uploads = folder / "wp-content/uploads/2023/04"
    uploads.mkdir(parents=True)
    items = []
    for n in range(images):
        (uploads / f"img{n}.jpg").write_bytes(jpeg(n))
        items.append(
            f"<item><title>img{n}</title><wp:post_id>{100000 + n}</wp:post_id>"
            f"<wp:post_parent>{n * max(posts // max(images, 1), 1)}</wp:post_parent>"
            "<wp:status>inherit</wp:status><wp:post_type>attachment</wp:post_type>"
            "<wp:attachment_url>https://old.example/wp-content/uploads/2023/04/"
            f"img{n}.jpg</wp:attachment_url><wp:postmeta><wp:meta_key>_wp_attached_file"
            f"</wp:meta_key><wp:meta_value>2023/04/img{n}.jpg</wp:meta_value></wp:postmeta>"
            "</item>")
    for n in range(posts):
        items.append(
            f"<item><title>Post number {n}</title><link>https://old.example/2023/04/post-{n}/"
            f"</link><content:encoded><![CDATA[<!-- wp:paragraph --><p>Body of post {n}, "
            "with some words about tides and boats.</p><!-- /wp:paragraph -->]]>"
            f"</content:encoded><wp:post_id>{n}</wp:post_id><wp:post_date_gmt>2023-04-08 "
            f"06:{n % 60:02d}:00</wp:post_date_gmt><wp:post_name>post-{n}</wp:post_name>"
            "<wp:status>publish</wp:status><wp:post_type>post</wp:post_type>"
            '<category domain="post_tag" nicename="tides">Tides</category></item>')
    path = folder / "export.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:wp="http://wordpress.org/export/1.2/"><channel><title>Bench</title>'
        "<wp:wxr_version>1.2</wp:wxr_version>" + "".join(items) + "</channel></rss>")
    return folder


def mastodon(folder: Path, toots: int) -> Path:
    public = "https://www.w3.org/ns/activitystreams#Public"
    items = []
    path = folder / "archive.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(toots):
            if n % 10 == 9:
                items.append({"id": f"https://s.example/a/{n}", "type": "Announce",
                              "object": "https://o.example/1"})
                continue
            attachment = []
            if n % 20 == 0:
                name = f"media_attachments/files/{n}/original/p.jpg"
                archive.writestr(name, jpeg(n))
                attachment = [{"type": "Document", "mediaType": "image/jpeg", "url": "/" + name,
                               "name": f"photo {n}"}]
            items.append({"id": f"https://s.example/a/{n}/activity", "type": "Create",
                          "object": {"id": f"https://s.example/users/a/statuses/{n}",
                                     "type": "Note", "to": [public],
                                     "url": f"https://s.example/@a/{n}",
                                     "published": f"2023-09-01T08:{n % 60:02d}:00Z",
                                     "content": f"<p>Toot {n} about the sea</p>",
                                     "attachment": attachment}})
        archive.writestr("outbox.json", json.dumps(
            {"type": "OrderedCollection", "orderedItems": items}))
    return path


def run(kind: str, source: Path, home: Path) -> tuple[float, float, float, dict[str, int]]:
    """One import in a child process: wall seconds, CPU seconds (all its threads), peak RSS
    (MB) and the actions counted. On a shared machine the CPU time moves less with the load
    than the wall time does."""
    script = (
        "import resource, subprocess, sys, json; "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); peak = u.ru_maxrss; "
        "print(json.dumps([r.returncode, peak, u.ru_utime + u.ru_stime, "
        "[json.loads(l)['action'] for l in r.stdout.splitlines()]]))")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, HOMEPORT, "import-from", kind, str(source), "--json",
         "--data", str(home)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    code, peak, cpu, actions = json.loads(done.stdout)
    if code != 0:
        raise SystemExit(f"{kind} import failed ({code})")
    counts: dict[str, int] = {}
    for action in actions:
        counts[action] = counts.get(action, 0) + 1
    return seconds, cpu, peak / 1024, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--toots", type=int, default=20_000)
    parser.add_argument("--only", choices=["wordpress", "mastodon"], help="one import only")
    args = parser.parse_args()
    env_clear = [k for k in os.environ if k.startswith("HOMEPORT_")]
    for key in env_clear:
        del os.environ[key]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = {"wordpress": wxr(root / "wp", args.posts, args.images),
                   "mastodon": mastodon(root, args.toots)}
        print(f"{args.posts} posts + {args.images} images; {args.toots} toots "
              f"(targets: 60 s, 300 MB each)")
        for kind, source in sources.items():
            if args.only and kind != args.only:
                continue
            home = root / f"home-{kind}"
            for label in ("first run", "re-run"):
                seconds, cpu, peak, counts = run(kind, source, home)
                print(f"{kind:9} {label:9} {seconds:7.1f} s  CPU {cpu:6.1f} s  "
                      f"peak RSS {peak:6.0f} MB  {counts}", flush=True)


if __name__ == "__main__":
    main()
