"""Home GUI benchmark: cold start of ``homeport serve`` to its first 200, and idle memory.

Targets (issue C): cold start to first 200 <= 2 s; home idle RSS <= 120 MB.

* Cold start: a fresh data dir each round (so the store is created and the owner's password
  hashed, as on a first run); the clock runs from spawning ``python -m homeport serve`` to the
  first 200 from ``GET /admin/setup`` (the first page a newcomer sees), polled every 10 ms.
* Idle RSS: VmRSS of the server process after 3 s of idling, once right after start and once
  after a workload through the GUI over HTTP: the first-run wizard, 5 articles, 20 notes,
  3 photos, 1 paper, a preview build each time something is published, and a look at the
  preview.

    .venv/bin/python bench/home_gui.py [--rounds 5]

Standard library, httpx and Pillow only; every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
from PIL import Image

from homeport.testing.live import free_port, serve_command, stop_process

PASSWORD = "benchmark password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CPU: list[float] = []
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: unlike the wall clock, not stretched by
    whatever else the machine is running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(data: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    env = {**os.environ, "HOMEPORT_LOG_LEVEL": "warning"}
    env.pop("HOMEPORT_DATA", None)
    began = time.perf_counter()
    proc = subprocess.Popen(serve_command(data, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/admin/setup"
    deadline = began + 30
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    seconds = time.perf_counter() - began
                    CPU.append(cpu_seconds(proc.pid))
                    return proc, port, seconds
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None:
            raise RuntimeError("homeport serve exited during start-up")
        time.sleep(0.01)
    stop_process(proc)
    raise RuntimeError("homeport serve did not answer within 30 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def csrf(client: httpx.Client, path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found, path
    return found.group(1)


def png(seed: int) -> bytes:
    image = Image.new("RGB", (1600, 1200), (seed * 40 % 255, 90, 160))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def workload(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        form = {"csrf": csrf(client, "/admin/setup"), "name": "Bench", "title": "Bench site",
                "theme": "journal", "password": PASSWORD, "password2": PASSWORD}
        shown = client.post("/admin/setup", data=form, follow_redirects=True)
        words = re.findall(r"<li>([a-z]+)</li>", shown.text)
        page = client.get("/admin/setup/confirm").text
        answers = {f"word{n}": words[int(n) - 1] for n in re.findall(r'name="word(\d+)"', page)}
        client.post("/admin/setup/confirm", data={"csrf": CSRF.findall(page)[0], **answers})
        token = csrf(client, "/admin/")
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        for n in range(5):
            body = json.dumps({"title": f"Article {n}", "body": "Some *text*. " * 200})
            saved = client.post("/admin/api/articles", content=body, headers=headers).json()
            client.post(f"/admin/entries/article/{saved['id']}/publish", data={"csrf": token})
        for n in range(20):
            client.post("/admin/notes", data={"csrf": token, "text": f"Note number {n}"})
        for n in range(3):
            client.post("/admin/api/photos", headers=headers,
                        data={"alt": f"Photo {n}", "publish": "on"},
                        files={"file": (f"p{n}.png", png(n), "image/png")})
        client.post("/admin/papers", data={"csrf": token, "title": "A paper", "authors": "A B"},
                    files={"pdf": ("paper.pdf", PDF, "application/pdf")})
        client.post("/admin/build", data={"csrf": token})
        assert client.get("/preview/", follow_redirects=True).status_code == 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="homeport-bench-gui-") as tmp:
        for n in range(args.rounds):
            proc, port, seconds = start(Path(tmp) / f"cold-{n}")
            stop_process(proc)
            starts.append(seconds)
        proc, port, _ = start(Path(tmp) / "idle")
        try:
            time.sleep(3)
            fresh = rss_mb(proc.pid)
            workload(port)
            time.sleep(3)
            used = rss_mb(proc.pid)
        finally:
            stop_process(proc)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"cold start to first 200 (GET /admin/setup), {args.rounds} fresh data dirs: "
          f"median {statistics.median(starts):.2f} s, max {max(starts):.2f} s (target <= 2 s); "
          f"CPU time of the server by then: median {statistics.median(CPU):.2f} s")
    print(f"idle RSS right after start: {fresh:.1f} MB; after the GUI workload: {used:.1f} MB "
          "(target <= 120 MB)")
    return 0 if max(starts) <= 2.0 and max(fresh, used) <= 120 else 1


if __name__ == "__main__":
    sys.exit(main())
