"""Micropub: time from a create at a provider to the post being live at every provider.

Two ``homeport provider serve`` and one ``homeport serve`` (its inbox relay and auto-publish on,
as by default; SQLite) on loopback; the home enrolled at both and caught up; a bearer token
with scope ``create`` from ``homeport tokens create`` (which hands it to both providers). Then
``--posts`` Micropub creates (form-encoded notes) are sent to the first provider at one per
second, each on its own thread, and for each the clock runs from sending the request until the
URL it was given (``Location``) answers 200 at both providers (polled every 20 ms). Also
reported: the status the client got (201 once live, 202 when the post was not yet live after
the provider's wait) and how long the request took.

    .venv/bin/python bench/interop_micropub.py [--posts 30] [--rate 1]

``run()`` is what ``bench/interop.py`` calls. Every process started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from homeport.testing.live import free_port, start_home, stop_process

BASE = "example.test"
HOST = f"alice.{BASE}"
ADMIN = "bench admin password"
FAST = {"HOMEPORT_ARGON2_TIME_COST": "1", "HOMEPORT_ARGON2_MEMORY_KIB": "1024"}
TIMEOUT = 30.0
LIVE_TIMEOUT = float(os.environ.get("BENCH_LIVE_TIMEOUT", "30"))


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return {**env, **FAST, "HOMEPORT_OPERATOR_PASSWORD": "operator-pw", **extra}


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "homeport", *args, "--data", str(data)],
                          capture_output=True, timeout=120, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"homeport {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def _provider(root: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "provider", "serve", "--data", str(root / name),
             "--port", str(port), "--base-domain", BASE],
            stdout=out, stderr=subprocess.STDOUT, env=_env({}), start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/_homeport/v1/", timeout=2)
            return proc, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError(f"provider {name} did not start") from None
            time.sleep(0.05)


def _live(providers: list[str], path: str, since: float) -> float:
    """Seconds from ``since`` until ``path`` answers 200 at every provider."""
    pending = list(providers)
    with httpx.Client(timeout=5, headers={"Host": HOST}) as client:
        while pending:
            if time.perf_counter() - since > LIVE_TIMEOUT:
                raise RuntimeError(f"{path} not live at {pending} after {LIVE_TIMEOUT} s")
            pending = [p for p in pending if client.get(p + path).status_code != 200]
            if pending:
                time.sleep(0.02)
    return time.perf_counter() - since


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_s": round(statistics.median(values), 3),
            "p99_s": round(_percentile(values, 99), 3), "max_s": round(max(values), 3)}


def run(posts: int = 30, rate: float = 1.0) -> dict[str, Any]:
    """The figures as a dict (SQLite home, two providers on SQLite)."""
    with tempfile.TemporaryDirectory(prefix="homeport-bench-micropub-") as scratch:
        root = Path(scratch)
        env = _env({"HOMEPORT_ADMIN_PASSWORD": ADMIN, "HOMEPORT_LOG_LEVEL": "warning"})
        started: list[subprocess.Popen[bytes]] = []
        home = None
        try:
            urls = []
            for name in ("provider-a", "provider-b"):
                proc, url = _provider(root, name)
                started.append(proc)
                urls.append(url)
            data = root / "home"
            _cli(data, env, "init", "--json")
            _cli(data, env, "add", "note", "Warming up")
            for n, url in enumerate(urls):
                code = json.loads(_cli(root / f"provider-{'ab'[n]}", _env({}), "provider",
                                       "invite", "--json"))
                _cli(data, env, "providers", "add", url, code["code"], "--name", "alice")
            _cli(data, env, "publish")
            home = start_home(data, env, log=root / "home.log")
            warm = time.perf_counter()
            with httpx.Client(timeout=5, headers={"Host": HOST}) as client:
                while not all("Warming up" in client.get(u + "/").text for u in urls):
                    if time.perf_counter() - warm > TIMEOUT:
                        raise RuntimeError("the first publish did not arrive")
                    time.sleep(0.05)
            token = json.loads(_cli(data, env, "tokens", "create", "--scope", "create",
                                    "--json"))["token"]
            return _measure(urls, token, posts, rate)
        finally:
            if home is not None:
                home.stop()
            for proc in started:
                stop_process(proc)


def _measure(urls: list[str], token: str, posts: int, rate: float) -> dict[str, Any]:
    live: list[float] = []
    answered: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        start = time.perf_counter()
        try:
            with httpx.Client(timeout=TIMEOUT, headers={"Host": HOST}) as client:
                answer = client.post(f"{urls[0]}/_homeport/micropub", data={
                    "h": "entry", "content": f"Micropub note {n} {time.time_ns()}"},
                    headers={"Authorization": f"Bearer {token}"})
            took = time.perf_counter() - start
            if answer.status_code not in (201, 202):
                raise RuntimeError(f"{answer.status_code} {answer.text}")
            path = urlsplit(answer.headers["location"]).path
            seconds = _live(urls, path, start)
            with lock:
                statuses[answer.status_code] += 1
                answered.append(took)
                live.append(seconds)
        except Exception as exc:
            with lock:
                errors.append(str(exc))

    threads = []
    begin = time.perf_counter()
    for n in range(posts):
        time.sleep(max(0.0, begin + n / rate - time.perf_counter()))
        thread = threading.Thread(target=one, args=(n,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(TIMEOUT * 2)
    return {
        "posts": posts, "rate_per_s": rate, "providers": len(urls),
        "create_to_live_everywhere": _summary(live) if live else None,
        "response_time": _summary(answered) if answered else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors[:5], "error_count": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--rate", type=float, default=1.0, help="creates per second")
    args = parser.parse_args()
    print(json.dumps(run(args.posts, args.rate), indent=2))


if __name__ == "__main__":
    main()
