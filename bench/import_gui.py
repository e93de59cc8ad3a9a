"""The GUI's Import page and "Take everything with you" button against the CLI doing the same.

Generates ``bench/import.py``'s WordPress export (``--posts`` posts, ``--images`` images),
then, side by side on two fresh SQLite homes:

- CLI: ``homeport init`` (not timed), ``homeport import-from wordpress DIR``; then
  ``homeport snapshot``, ``homeport export`` and ``homeport export-to KIND`` for every
  exporter (what the button puts in its zip);
- GUI: a live ``homeport serve``, the export uploaded as a zip to ``/admin/import`` and the
  page polled until the import ends; then ``POST /admin/takeaway`` read to its last byte.

Prints wall times and the GUI/CLI ratios (the GUI runs the same importer and exporters in the
server's event loop; the zip adds compression of the portable views).

    .venv/bin/python bench/import_gui.py                       # 2,000 posts, 200 images
    .venv/bin/python bench/import_gui.py --posts 10000 --images 1000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from homeport.testing.live import start_home

HOMEPORT = str(Path(sys.executable).with_name("homeport"))
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EXPORTERS = ("jsonfeed", "markdown", "outbox", "wxr")
POLL = 0.2
LIMIT = 3600.0


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("bench_import", Path(__file__).with_name(
        "import.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([HOMEPORT, *args], check=True, capture_output=True)
    return time.perf_counter() - started


def _csrf(text: str) -> str:
    found = CSRF.search(text)
    assert found, text[:300]
    return found.group(1)


def _wizard(client: httpx.Client) -> None:
    page = client.get("/admin/setup")
    shown = client.post("/admin/setup", data={
        "csrf": _csrf(page.text), "name": "Ada", "title": "Bench", "theme": "journal",
        "password": PASSWORD, "password2": PASSWORD})
    words = re.findall(r"<li>([a-z]+)</li>", shown.text)
    confirm = client.get("/admin/setup/confirm")
    answers = {f"word{n}": words[int(n) - 1]
               for n in re.findall(r'name="word(\d+)"', confirm.text)}
    client.post("/admin/setup/confirm", data={"csrf": _csrf(confirm.text), **answers})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith("HOMEPORT_")]:
        del os.environ[key]
    gen = _generator()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = gen.wxr(root / "wp", args.posts, args.images)  # type: ignore[attr-defined]
        folder = source if source.is_dir() else source.parent
        archive = root / "wordpress.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    out.write(path, path.relative_to(folder).as_posix())
        print(f"{args.posts} posts + {args.images} images "
              f"({archive.stat().st_size / 1e6:.1f} MB zipped)")

        cli_home = root / "cli"
        _cli("init", "--data", str(cli_home))  # an identity, as the GUI's wizard makes
        cli_import = _cli("import-from", "wordpress", str(folder), "--data", str(cli_home))
        cli_takeaway = _cli("snapshot", "--data", str(cli_home))
        cli_takeaway += _cli("export", str(root / "cli.homeport"), "--data", str(cli_home))
        for kind in EXPORTERS:
            cli_takeaway += _cli("export-to", kind, str(root / "cli-out" / kind),
                                 "--data", str(cli_home))

        env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024",
               "HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_LOG_LEVEL": "warning",
               "HOMEPORT_NO_BROWSER": "1", "HOMEPORT_AUTO_PUBLISH": "false"}
        home = start_home(root / "gui", env)
        try:
            with httpx.Client(base_url=home.root, timeout=LIMIT, follow_redirects=True) as c:
                _wizard(c)
                csrf = _csrf(c.get("/admin/import").text)
                started = time.perf_counter()
                with archive.open("rb") as body:
                    c.post("/admin/import", data={"csrf": csrf, "kind": "wordpress"},
                           files={"file": ("wordpress.zip", body, "application/zip")})
                while 'data-state="running"' in c.get("/admin/import").text:
                    if time.perf_counter() - started > LIMIT:
                        raise SystemExit("the GUI import did not end within an hour")
                    time.sleep(POLL)
                gui_import = time.perf_counter() - started
                started = time.perf_counter()
                taken = c.post("/admin/takeaway", data={"csrf": csrf})
                taken.raise_for_status()
                gui_takeaway = time.perf_counter() - started
                size = len(taken.content)
        finally:
            home.stop()
    print(f"import    CLI {cli_import:7.1f} s   GUI {gui_import:7.1f} s   "
          f"GUI/CLI {gui_import / cli_import:.2f}")
    print(f"takeaway  CLI {cli_takeaway:7.1f} s   GUI {gui_takeaway:7.1f} s   "
          f"GUI/CLI {gui_takeaway / cli_takeaway:.2f}   (zip {size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
