"""Hosted homes: what one costs its provider.

One ``homeport provider serve --workers 1`` with ``hosted_homes`` on, on loopback. ``--homes``
people sign up one after another over HTTP (the three ``/signup`` pages, as a browser posts
them); for each: the time of the last page (the home made, its site built, enrolled and its
first publish started), the time until its site answers at the provider, and the provider
process's resident memory afterwards (``VmRSS``; the hosted homes run inside it). Then one note
per home through its ``/admin/notes``, timed until live. Then the provider is restarted with
``--workers 2``: the time until it answers, until every hosted home is started and owned by one
worker (its owner lock held) without anyone asking for it, the workers' memory, and a note per
home timed until live again (posted to whichever worker answers).

    .venv/bin/python bench/hosted.py [--homes 5]

There is no peer to run beside it. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from homeport.testing.live import free_port, stop_process

BASE = "localhost"
PASSWORD = "bench hosted password"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}
TIMEOUT = 60.0


def _one(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if not found:
        raise RuntimeError(f"not on the page: {pattern}\n{text[:500]}")
    return found.group(1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _until(check: object, what: str) -> float:
    started = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"{what}: not within {TIMEOUT} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def _invite(data: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "provider", "invite", "--json", "--data", str(data)],
        capture_output=True, timeout=60, env=env, check=True,
    )
    return str(re.search(r'"code": "([^"]+)"', done.stdout.decode()).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homes", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(FAST, HOMEPORT_OPERATOR_PASSWORD="operator-pw", HOMEPORT_HOSTED_HOMES="1")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "provider"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "provider.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
             "--port", str(port), "--base-domain", BASE, "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            first = _until(lambda: _up(url), "provider start")
            print(f"provider started: answering {first:.2f} s, {_rss_mb(proc.pid):.0f} MB resident")
            made, live, notes, rss = [], [], [], []
            for n in range(args.homes):
                name = f"home{n}"
                code = _invite(data, env)
                with httpx.Client(base_url=url, timeout=TIMEOUT) as browser:
                    page = browser.get("/signup").text
                    words = re.findall(r"<li>([a-z]+)</li>", page)
                    check = browser.post("/signup", data={
                        "pending": _one(r'name="pending" value="([^"]+)"', page), "code": code,
                        "address": name, "title": f"Home {n}", "name": "Bench",
                        "password": PASSWORD, "password2": PASSWORD}).text
                    positions = [int(p) for p in re.findall(r'name="word(\d+)"', check)]
                    started = time.perf_counter()
                    done = browser.post("/signup/check", data={
                        "answers": _one(r'name="answers" value="([^"]+)"', check),
                        **{f"word{p}": words[p - 1] for p in positions}})
                    made.append(time.perf_counter() - started)
                    if done.status_code != 303:
                        raise RuntimeError(done.text[:500])
                host = {"Host": f"{name}.{BASE}:{port}"}
                with httpx.Client(base_url=url, headers=host, timeout=TIMEOUT) as home:
                    live.append(made[-1] + _until(
                        lambda home=home, n=n: f"Home {n}" in home.get("/").text, "site"))
                    rss.append(_rss_mb(proc.pid))
                    home.get(done.headers["location"].split(str(port), 1)[1])
                    form = home.get("/admin/notes").text
                    text = f"note {n} {time.time()}"
                    started = time.perf_counter()
                    home.post("/admin/notes", data={
                        "csrf": _one(r'name="csrf" value="([^"]+)"', form), "text": text})
                    notes.append(_until(lambda home=home, text=text: text in home.get("/").text,
                                        "note"))
                print(f"{name}: made {made[-1]:.2f} s, site live {live[-1]:.2f} s, "
                      f"note live {notes[-1]:.2f} s, provider {rss[-1]:.0f} MB")
            per_home = (rss[-1] - rss[0]) / max(1, len(rss) - 1)
            print(f"sign-up last page: median {statistics.median(made):.2f} s; site live: "
                  f"median {statistics.median(live):.2f} s; note → live: median "
                  f"{statistics.median(notes):.2f} s; memory per further hosted home: "
                  f"{per_home:.0f} MB")

            stop_process(proc)
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(data),
                 "--port", str(port), "--base-domain", BASE, "--workers", "2"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
            _until(lambda: _up(url), "provider restart")
            answering = time.perf_counter() - started
            locks = [data / "locks" / f"hosted-home{n}.lock" for n in range(args.homes)]
            _until(lambda: all(_held(lock) for lock in locks), "hosted homes owned")
            owned = time.perf_counter() - started
            workers = _children(proc.pid)
            total = _rss_mb(proc.pid) + sum(_rss_mb(pid) for pid in workers)
            print(f"restart with 2 workers: answering {answering:.2f} s, every hosted home "
                  f"started and owned {owned:.2f} s, {len(workers)} workers + parent "
                  f"{total:.0f} MB resident")
            again = []
            for n in range(args.homes):
                host = {"Host": f"home{n}.{BASE}:{port}"}
                with httpx.Client(base_url=url, headers=host, timeout=TIMEOUT) as home:
                    login = home.get("/admin/login").text
                    home.post("/admin/login", data={
                        "csrf": _one(r'name="csrf" value="([^"]+)"', login),
                        "password": PASSWORD})
                    form = home.get("/admin/notes").text
                    text = f"note after restart {n} {time.time()}"
                    started = time.perf_counter()
                    home.post("/admin/notes", data={
                        "csrf": _one(r'name="csrf" value="([^"]+)"', form), "text": text})
                    again.append(_until(lambda home=home, text=text: text in home.get("/").text,
                                        "note after restart"))
            print(f"after the restart, note → live: median {statistics.median(again):.2f} s "
                  f"({', '.join(f'{t:.2f}' for t in again)})")
        finally:
            stop_process(proc)
            log.close()


def _held(lock: Path) -> bool:
    """Whether some process holds ``lock`` (a hosted home's owner lock)."""
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _up(url: str) -> bool:
    try:
        httpx.get(url + "/_homeport/v1/", timeout=2)
    except httpx.HTTPError:
        return False
    return True


if __name__ == "__main__":
    main()
