"""Plugins benchmark: the home's start time with 20 plugins installed against none.

Target (issue H): start with 20 plugins <= 1.2x the start without.

Twenty small plugins are generated (each adds an entry type with its template, a GUI page and
a route, as ``examples/homeport-recipes`` does), built into wheels
(``homeport.testing.plugins.build_wheel``) and installed into one data dir's plugins folder
with one ``pip install --no-deps --no-index --target``; a second data dir has none. Then, in
alternation, ``python -m homeport serve`` is started on each (same settings, data dir already
initialised by a first start) and the clock runs from spawning it to the first 200 from
``GET /v1/__heartbeat__``, polled every 10 ms. The median of the rounds is reported.

    .venv/bin/python bench/plugins.py [--rounds 7] [--plugins 20]

Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from homeport.plugins import state
from homeport.testing.live import free_port, serve_command, stop_process
from homeport.testing.plugins import build_wheel

PLUGIN = '''
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from homeport.plugins import hookimpl
from homeport.plugins.kinds import AdminPage, ContentType


async def hello(request):
    return PlainTextResponse("hello from {n}")


async def page(request, csrf):
    return "<p>plugin {n}</p>"


@hookimpl
def register_routes():
    return [Route("/bench-{n}/hello", hello)]


@hookimpl
def register_admin_pages():
    return [AdminPage("", "Bench {n}", page)]


@hookimpl
def register_content_types():
    return [ContentType("bench{n}", "bench{n}s", "title",
                        {{"title": {{"type": "string"}}}}, ("title",),
                        template="{{% extends 'layout.html' %}}")]
'''


def make_plugins(root: Path, count: int) -> list[Path]:
    wheels = []
    for n in range(count):
        project = root / f"p{n}"
        package = project / "src" / f"bench_plugin_{n}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(PLUGIN.format(n=n))
        (project / "pyproject.toml").write_text(
            f'[project]\nname = "bench-plugin-{n}"\nversion = "1.0"\n'
            f'[project.entry-points.homeport]\nbench{n} = "bench_plugin_{n}"\n')
        wheels.append(build_wheel(project, root / "wheels"))
    return wheels


def install(data: Path, wheels: list[Path]) -> None:
    target = state.packages_dir(data)
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--disable-pip-version-check", "--target", str(target),
                    *map(str, wheels)], check=True, timeout=600)


def start_seconds(data: Path, env: dict[str, str], timeout: float = 60.0) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(serve_command(data, port), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1/__heartbeat__"
        while time.perf_counter() - started < timeout:
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError("serve did not answer in time")
    finally:
        stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--plugins", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "HOMEPORT_ARGON2_MEMORY_KIB": "1024", "HOMEPORT_ARGON2_TIME_COST": "1",
           "HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_NO_BROWSER": "1",
           "HOMEPORT_OPEN_BROWSER": "0", "HOMEPORT_INBOX_RELAY": "0",
           "HOMEPORT_ADMIN_PASSWORD": "benchmark password"}
    env.pop("HOMEPORT_DATA", None)
    with tempfile.TemporaryDirectory(prefix="homeport-bench-plugins-") as folder:
        root = Path(folder)
        bare, loaded = root / "bare", root / "loaded"
        install(loaded, make_plugins(root / "src", args.plugins))
        for data in (bare, loaded):  # first start: store created, admin password hashed
            start_seconds(data, env)
        times: dict[str, list[float]] = {"bare": [], "loaded": []}
        for _ in range(args.rounds):
            times["bare"].append(start_seconds(bare, env))
            times["loaded"].append(start_seconds(loaded, env))
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["loaded"] / median["bare"]
    print(f"| plugins installed | start to first 200 (median of {args.rounds}) |")
    print("| --- | --- |")
    print(f"| none | {median['bare']:.2f} s |")
    print(f"| {args.plugins} | {median['loaded']:.2f} s |")
    print(f"\nratio {ratio:.2f}x (target <= 1.2x); all: "
          f"{ {k: [round(x, 2) for x in v] for k, v in times.items()} }")


if __name__ == "__main__":
    main()
